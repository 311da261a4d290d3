"""Errors raised by the forecasting engine."""


class HistoryError(ValueError):
    """A history object is malformed; the message names the field and says why.

    Example: ``counts[2].unit: unknown unit 'mmol'``.
    """
