"""Buyu's voice robot: speech layer (audio, ASR, TTS, locale packs, NLU).

Adapters (Vosk, pyttsx3/espeak-ng) sit behind the ``SpeechRecognizer`` and ``SpeechSynthesizer``
protocols; audio helpers, locale packs and NLU are pure. The dialog state machine and the
telephony server plug in on top: the dialog asks for a recognition restricted to its state's
grammar, telephony feeds and receives 8 kHz μ-law 20 ms frames.
"""
