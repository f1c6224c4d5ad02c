"""The yardstick of `make bench-http`: a bare Flask "hello world", served by the same gunicorn the same
way, so each Fenxiao page is given as a ratio to what the framework itself does on this machine."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"
