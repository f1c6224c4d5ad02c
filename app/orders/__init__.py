"""Cart, addresses, checkout, the order state machine, shipping and after-sales."""
