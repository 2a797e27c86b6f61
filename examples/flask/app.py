# A minimal Flask website that signs its users in through an OpenID Provider (e.g. `sealgate bridge`) with Authlib.
"""A Flask website that signs users in with OpenID Connect, using Authlib and nothing else.

It knows only a standard OpenID Provider: the issuer URL, a client id and a client secret,
all taken from the environment:

    BRIDGE_ISSUER   the provider's issuer URL, e.g. http://127.0.0.1:9000
    CLIENT_ID       the client id registered at the provider
    CLIENT_SECRET   its client secret
    PORT            the port to listen on at 127.0.0.1 (5000 by default)
    SECRET_KEY      the key that signs Flask's session cookie (random per start by default)

Authlib fetches the discovery document, sends the user to the authorization endpoint with
`state`, `nonce` and a PKCE S256 challenge, and on the way back checks the state, redeems the
code at the token endpoint and verifies the ID token (signature against the provider's JWKS,
issuer, audience, expiry and nonce) before the app trusts any claim.
"""

from __future__ import annotations

import html
import os
import secrets

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, request, session, url_for

ISSUER = os.environ.get("BRIDGE_ISSUER", "http://127.0.0.1:9000").rstrip("/")
CLIENT_ID = os.environ.get("CLIENT_ID", "flask-demo")
CLIENT_SECRET = os.environ.get("CLIENT_SECRET", "")
PORT = int(os.environ.get("PORT", "5000"))

app = Flask(__name__)
app.secret_key = os.environ.get("SECRET_KEY") or secrets.token_hex(32)
app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")

oauth = OAuth(app)
oauth.register(
    name="bridge",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    server_metadata_url=ISSUER + "/.well-known/openid-configuration",
    client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
)

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body>
<main>
{body}
</main>
</body>
</html>
"""


def page(title: str, body: str, status: int = 200):
    """An HTML page with `title` and the (already escaped) `body`."""
    return PAGE.format(title=html.escape(title), body=body), status, {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
    }


def error_page(code: str, description: str = ""):
    """The page shown when sign-in failed: the OAuth error code, HTTP 400, nobody signed in."""
    session.pop("user", None)
    body = f'<h1>Sign-in failed</h1>\n<p>Error: <code id="error">{html.escape(code)}</code></p>\n'
    if description:
        body += f'<p id="error-description">{html.escape(description)}</p>\n'
    body += '<p><a href="/">Back</a></p>'
    return page("Sign-in failed", body, 400)


@app.get("/")
def index():
    user = session.get("user")
    if not user:
        return page("Welcome", '<h1>Welcome</h1>\n<p><a id="login" href="/login">Sign in</a></p>')
    name = user.get("name") or user.get("sub", "")
    items = "\n".join(
        f"<li><code>{html.escape(str(key))}</code>: {html.escape(str(value))}</li>"
        for key, value in sorted(user.items())
    )
    body = (
        f'<h1 id="greeting">Hello, {html.escape(name)}</h1>\n'
        f'<ul id="claims">\n{items}\n</ul>\n'
        '<form method="post" action="/logout"><button type="submit">Sign out</button></form>'
    )
    return page("Signed in", body)


@app.get("/login")
def login():
    session.pop("user", None)
    return oauth.bridge.authorize_redirect(url_for("callback", _external=True))


@app.get("/callback")
def callback():
    if "error" in request.args:
        return error_page(request.args["error"], request.args.get("error_description", ""))
    try:
        token = oauth.bridge.authorize_access_token()
    except AuthlibBaseError as error:  # OAuthError, MismatchingStateError, JoseError, ...
        return error_page(getattr(error, "error", None) or type(error).__name__,
                          getattr(error, "description", None) or "")
    user = token.get("userinfo")
    if not user:
        return error_page("missing_id_token", "the token response carried no verified ID token")
    session["user"] = dict(user)
    return redirect(url_for("index"))


@app.post("/logout")
def logout():
    session.pop("user", None)
    return redirect(url_for("index"))


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=PORT, debug=False)
