"""Notify service: e-mail to organisations and citizens, delivered over SMTP once."""
