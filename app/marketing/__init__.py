"""Marketing: member levels, campaigns, coupons and points, and the one function that prices a basket."""
