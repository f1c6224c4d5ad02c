"""The back office's reports (数据): sales by day, products, the distribution funnel, customers and promotions,
each over a date range of the shop's calendar. Every figure is a set-based query; money is integer fen and
rates are integer basis points."""
