"""Categories, products, SKUs, images and stock."""
