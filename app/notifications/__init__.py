"""WeChat 公众号 template messages: events write rows into an outbox inside their own transaction, and
`flask notifications send` sends them (with retries), so a slow WeChat never slows a page."""
