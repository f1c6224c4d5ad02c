"""The shop's customers as the back office sees them: the list, its search and filters, one customer's page
(orders, spend, points, level, referrer and bindings, addresses) and what is masked for whom."""
