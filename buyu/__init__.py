"""Buyu (捕逾): intelligent collections contact-centre for small-loan lenders."""

__version__ = "0.1.0"
