"""Webhooks: subscriptions' endpoints checked, their secrets and delivery log, and deliveries."""
