"""SMS tools for staff: the live segment counter in every SMS composer."""
