/* Hand entry: the G-CSF dose unit follows the product typed (filgrastim in micrograms, pegfilgrastim
   and lipegfilgrastim in mg), until the nurse chooses a unit herself. The names come from the server
   (clinical.gcsf_usual_units) and are matched as clinical.gcsf_product matches them; without
   JavaScript the form does the same on saving. */
(function () {
  "use strict";
  function usualUnit(names, typed) {
    var text = typed.trim().toLowerCase();
    if (names.atc[text.toUpperCase()]) return names.atc[text.toUpperCase()];
    for (var i = 0; i < names.ingredients.length; i++) {
      var ingredient = names.ingredients[i][0];
      if (text.indexOf(ingredient) === 0 || (" " + text).indexOf(" " + ingredient) !== -1) return names.ingredients[i][1];
    }
    for (var j = 0; j < names.brands.length; j++) {
      if (text.indexOf(names.brands[j][0]) !== -1) return names.brands[j][1];
    }
    return "";
  }
  function start() {
    var product = document.getElementById("id_product_name");
    var unit = document.getElementById("id_dose_unit");
    if (!product || !unit || !product.dataset.usualUnits) return;
    var names = JSON.parse(product.dataset.usualUnits);
    var chosen = unit.value !== "";
    unit.addEventListener("change", function () { chosen = unit.value !== ""; });
    product.addEventListener("input", function () {
      if (!chosen) unit.value = usualUnit(names, product.value);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
