"""A tiny Flask app: lade's Python example (served by gunicorn, see Procfile)."""

import os

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello from flask\n"


@app.get("/whoami")
def whoami():
    return f"uid={os.getuid()}\n"
