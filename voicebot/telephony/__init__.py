"""Telephony: Twilio webhooks and Media Streams on our server, the Telephony adapters, a Twilio-side simulator.

``router`` (mounted by ``buyu.api.app``) serves ``POST /voice/twiml/{call_id}``,
``POST /voice/status/{call_id}`` and ``WS /voice/media/{call_id}``; ``session.CallSession`` runs
one call; ``providers`` places calls (Twilio REST or loopback); ``simulator`` plays Twilio's side.
"""
