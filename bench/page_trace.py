"""Chromium's performance trace of one page load, summed by what the renderer's main thread did.

Used by `bench/pages.py --trace` (parse, style, layout, paint, scripts before DOM ready and before the
load event, and when each file arrived). Needs nothing but the trace's JSON.
"""

from __future__ import annotations

TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing", "loading",
                    "toplevel", "v8.execute"]
# What the renderer's main thread does, in the words of Chromium's performance panel.
TRACE_WORDS = {"ParseHTML": "parse HTML", "ParseAuthorStyleSheet": "parse CSS", "UpdateLayoutTree": "style",
               "Layout": "layout", "PrePaint": "pre-paint", "Paint": "paint", "Layerize": "layerize",
               "EvaluateScript": "scripts", "v8.compile": "scripts", "v8.compileModule": "scripts",
               "FunctionCall": "scripts", "EventDispatch": "scripts", "TimerFire": "scripts",
               "v8.run": "scripts", "V8.ParseFunction": "scripts", "HitTest": "hit test",
               "UpdateLayer": "paint", "UpdateLayerTree": "paint", "Commit": "paint",
               "DecodedDataDocumentParser::AppendBytes": "parse HTML",
               "DocumentLoader::CreateParserPostCommit": "parse HTML",
               # Committing the navigation: the old page is taken down here (the bench reloads the same page).
               "Receive mojo message": "navigation", "DocumentLoader::CommitNavigation": "navigation"}


def trace_summary(raw: bytes, base: str) -> str:
    """Sum the renderer main thread's self time by kind before DOM ready and before load; list the files."""
    import json

    events = json.loads(raw)
    events = events["traceEvents"] if isinstance(events, dict) else events
    mains = {(e["pid"], e["tid"]) for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    navigations = [e for e in events if e.get("name") == "navigationStart" and (e["pid"], e["tid"]) in mains
                   and e.get("args", {}).get("data", {}).get("documentLoaderURL", "").startswith(base)]
    if not navigations:
        return "  (no navigation in the trace)"
    start = navigations[-1]
    main = (start["pid"], start["tid"])
    # The first of each mark once the page is committed (the initial empty document marks its own before,
    # and a later document after).
    mark, committed = {}, None
    for e in sorted((e for e in events if (e.get("pid"), e.get("tid")) == main and e["ts"] >= start["ts"]),
                    key=lambda e: e["ts"]):
        if e.get("name") == "commitNavigationEnd":
            committed = True
        elif committed and e.get("name") in ("domContentLoadedEventEnd", "loadEventEnd", "firstContentfulPaint"):
            mark.setdefault(e["name"], (e["ts"] - start["ts"]) / 1000)
    dom_ready, loaded = mark.get("domContentLoadedEventEnd", 0), mark.get("loadEventEnd", 0)
    slices = sorted(((e["ts"] - start["ts"]) / 1000, e.get("dur", 0) / 1000, e["name"]) for e in events
                    if (e["pid"], e["tid"]) == main and e.get("ph") == "X" and e["ts"] >= start["ts"])
    # Self time: a slice's duration less its children's (slices on one thread nest).
    selfs, stack = [], []
    for at, dur, name in slices:
        while stack and stack[-1][0] + stack[-1][1] <= at:
            stack.pop()
        if stack:
            stack[-1][3] -= min(dur, stack[-1][0] + stack[-1][1] - at)
        entry = [at, dur, name, dur]
        stack.append(entry)
        selfs.append(entry)
    by_kind = {}
    for at, _dur, name, own in selfs:
        for phase, end in (("to DOM ready", dom_ready), ("DOM ready to load", loaded)):
            lo = 0 if phase == "to DOM ready" else dom_ready
            if lo <= at < end:
                kind = TRACE_WORDS.get(name, "other")
                by_kind.setdefault(kind, {}).setdefault(phase, 0.0)
                by_kind[kind][phase] += own
    lines = [f"  DOM ready {dom_ready:.0f} ms, load event end {loaded:.0f} ms, first contentful paint "
             f"{mark.get('firstContentfulPaint', 0):.0f} ms; main thread busy (self time, ms):"]
    for kind, phases in sorted(by_kind.items(), key=lambda item: -sum(item[1].values())):
        lines.append(f"    {kind:<12} {phases.get('to DOM ready', 0):7.1f} before DOM ready   "
                     f"{phases.get('DOM ready to load', 0):7.1f} from DOM ready to load")
    longest = sorted((s for s in selfs if s[0] < loaded), key=lambda s: -s[1])[:8]
    lines.append("  longest slices: " + ", ".join(f"{name} {dur:.0f} ms at {at:.0f}" for at, dur, name, _ in longest))
    sent = {e["args"]["data"]["requestId"]: e for e in events if e.get("name") == "ResourceSendRequest"}
    for e in events:
        if e.get("name") == "ResourceFinish" and e["args"]["data"].get("requestId") in sent:
            request = sent[e["args"]["data"]["requestId"]]
            asked, done = ((event["ts"] - start["ts"]) / 1000 for event in (request, e))
            if asked >= 0:
                url = request["args"]["data"]["url"].replace(base, "")
                lines.append(f"  file {url[:70]:<70} asked {asked:6.0f} ms, done {done:6.0f} ms")
    return "\n".join(lines)
