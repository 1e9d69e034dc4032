"""Errors of the speech layer (BuyuError subclasses, so the CLI and API map them once)."""

from __future__ import annotations

from buyu.errors import BuyuError, InvalidInput


class ModelError(BuyuError):
    """A speech model directory is missing, incomplete or does not load."""

    code = "voice_model_invalid"
    http_status = 422


class GrammarError(InvalidInput):
    """A recognition grammar uses words the model cannot recognise (or is empty)."""

    code = "grammar_invalid"


class SynthesisError(BuyuError):
    """The speech synthesiser failed or timed out (its worker has been restarted)."""

    code = "synthesis_failed"
    http_status = 503
