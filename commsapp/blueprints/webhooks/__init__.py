"""Webhooks the SMS provider calls: inbound SMS and delivery status, each checked against Twilio's signature."""
