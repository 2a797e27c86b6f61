# End-to-end tests of `sealgate bridge` with the Flask example (Authlib) as its OpenID Connect client.
"""`sealgate bridge` as the OpenID Provider of a website: examples/flask/app.py, which knows
nothing of sealgate and signs in with Authlib's standard OpenID Connect client.

One stack per module (see bridge_stack.py): `sealgate serve`, the `test_issuer` example as the
phone's identity provider, `sealgate bridge` with the Flask example as a confidential client,
and the Flask example itself. The simulated phone reads the sign-in request URI from the
bridge's page, asks the issuer for a token bound to its `cid` and `nonce`, and delivers it with
`sealgate send`. The tests check:

1. the happy path with `requests`: Flask `/login` → bridge page → phone → approved → Flask
   `/callback` → "Hello, Alice Example";
2. refusals, each a clear OAuth error with nobody signed in: a tampered `state`, a replayed
   code (through Flask, and at `/token`, which also revokes the access token it issued), a
   wrong client secret, a token from an untrusted issuer, a token with another nonce, an
   envelope sealed to another key, and a sign-in left to expire;
3. a real headless Chromium (Selenium) on the sign-in page: QR code, narrow viewport, the
   page's security headers, and the return to the website within 2 s of the delivery; it
   saves docs/bridge-signin.png.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from bridge_stack import CLIENT_ID, CLIENT_SECRET, Stack, parse_signin_uri

REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "docs" / "bridge-signin.png"

#: Bound on every wait for a status, seconds.
STATUS_TIMEOUT = 30
HTTP_TIMEOUT = 35

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def stack(sealgate, tmp_path_factory):
    """Gateway, trusted issuer, bridge and Flask example on loopback; stopped after the module."""
    try:
        running = Stack(sealgate.binary, tmp_path_factory.mktemp("bridge-stack"))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def show_logs_on_failure(stack, request):
    """Prints the tail of every process log (shown with the failure) when the test fails."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        print(stack.logs())


# ------------------------------------------------------------------------------------- helpers


def signin_request_of(page_html: str) -> str:
    """The sign-in request URI in the bridge page's `#signin-request` element."""
    match = re.search(r'<a id="signin-request"[^>]*\bdata-signin-request="([^"]+)"', page_html)
    assert match, "no #signin-request with data-signin-request on the sign-in page"
    return html.unescape(match.group(1))


def flask_login(stack: Stack, session: requests.Session) -> tuple[str, str]:
    """Starts a sign-in at the Flask example: returns (sign-in page URL, sign-in request URI)."""
    reply = session.get(stack.flask.base + "/login", timeout=HTTP_TIMEOUT)
    assert reply.status_code == 200, reply.text
    assert reply.url.startswith(stack.bridge.base + "/signin/"), reply.url
    assert [r.status_code for r in reply.history] == [302, 303]
    return reply.url, signin_request_of(reply.text)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def direct_authorize(bridge, redirect_uri: str, session: requests.Session) -> dict:
    """An authorization request made by hand (as the Flask client would), without Flask:
    returns the state, verifier, sign-in page URL and sign-in request URI."""
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    reply = session.get(bridge.base + "/authorize", params={
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri,
        "scope": "openid profile email", "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }, timeout=HTTP_TIMEOUT)
    assert reply.status_code == 200 and "/signin/" in reply.url, (reply.status_code, reply.url)
    return {"state": state, "nonce": nonce, "verifier": verifier, "page": reply.url,
            "uri": signin_request_of(reply.text)}


def wait_status(session: requests.Session, page_url: str, want: str,
                timeout: float = STATUS_TIMEOUT) -> dict:
    """Long-polls the sign-in's status until it is not `waiting`; asserts it is `want`."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"sign-in still waiting after {timeout}s"
        reply = session.get(page_url + "/status", params={"wait": max(1, min(25, int(left)))},
                            timeout=HTTP_TIMEOUT)
        assert reply.status_code == 200, (reply.status_code, reply.text)
        status = reply.json()
        if status["status"] != "waiting":
            assert status["status"] == want, status
            return status


def wait_status_now(session: requests.Session, page_url: str) -> str:
    """The sign-in's status at once (`wait=0`)."""
    reply = session.get(page_url + "/status", params={"wait": 0}, timeout=HTTP_TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.json()["status"]


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def assert_signed_out(stack: Stack, session: requests.Session) -> None:
    """The Flask home page offers "Sign in" and greets nobody."""
    reply = session.get(stack.flask.base + "/", timeout=HTTP_TIMEOUT)
    assert reply.status_code == 200
    assert "Sign in" in reply.text and "Hello," not in reply.text, reply.text


def assert_flask_error(reply: requests.Response, code: str) -> None:
    """The Flask example's sign-in error page for OAuth error `code`."""
    assert reply.status_code == 400, (reply.status_code, reply.text)
    match = re.search(r'<code id="error">([^<]*)</code>', reply.text)
    assert match and match.group(1) == code, reply.text


def approved_redirect(stack: Stack, session: requests.Session) -> str:
    """Signs in at Flask up to the approval: the bridge's redirect back to Flask /callback."""
    page, uri = flask_login(stack, session)
    sent = stack.phone.approve(uri, stack.issuer)
    assert sent.returncode == 0, sent.stderr
    status = wait_status(session, page, "approved")
    assert status["redirect"].startswith(stack.redirect_uri + "?")
    return status["redirect"]


def token_request(stack: Stack, code: str, verifier: str, redirect_uri: str,
                  secret: str = CLIENT_SECRET) -> requests.Response:
    """POST /token with client_secret_basic."""
    return requests.post(stack.bridge.base + "/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }, auth=(CLIENT_ID, secret), timeout=HTTP_TIMEOUT)


def direct_code(stack: Stack) -> tuple[str, str]:
    """A fresh authorization code (and its PKCE verifier) obtained without Flask."""
    session = requests.Session()
    started = direct_authorize(stack.bridge, stack.redirect_uri, session)
    sent = stack.phone.approve(started["uri"], stack.issuer)
    assert sent.returncode == 0, sent.stderr
    query = query_of(wait_status(session, started["page"], "approved")["redirect"])
    assert query["state"] == started["state"] and query["iss"] == stack.bridge.base
    return query["code"], started["verifier"]


def assert_denied_at_flask(stack: Stack, session: requests.Session, page: str) -> None:
    """The sign-in is `denied`; its redirect carries access_denied, which Flask shows."""
    status = wait_status(session, page, "denied")
    query = query_of(status["redirect"])
    assert query["error"] == "access_denied" and "code" not in query, status
    assert query["iss"] == stack.bridge.base
    assert_flask_error(session.get(status["redirect"], timeout=HTTP_TIMEOUT), "access_denied")
    assert_signed_out(stack, session)


# ----------------------------------------------------------------------------------- happy path


def test_sign_in_through_the_bridge(stack):
    session = requests.Session()
    assert_signed_out(stack, session)
    page, uri = flask_login(stack, session)
    fields = parse_signin_uri(uri)
    assert fields["v"] == "1" and fields["gw"] == stack.gateway.base
    assert {"cid", "mbx", "kid", "exp", "nonce"} <= fields.keys()
    assert wait_status_now(session, page) == "waiting"

    sent = stack.phone.approve(uri, stack.issuer)
    assert sent.returncode == 0, sent.stderr
    status = wait_status(session, page, "approved")
    query = query_of(status["redirect"])
    assert {"code", "state", "iss"} <= query.keys() and query["iss"] == stack.bridge.base

    reply = session.get(status["redirect"], timeout=HTTP_TIMEOUT)
    assert reply.status_code == 200 and reply.url == stack.flask.base + "/", reply.url
    assert "Hello, Alice Example" in reply.text
    assert "alice@example.com" in reply.text
    # The ID token the website verified is the bridge's own, issued to this client.
    assert f"<code>iss</code>: {stack.bridge.base}" in reply.text
    assert "<code>aud</code>: flask-demo" in reply.text


def test_discovery_document(stack):
    meta = requests.get(stack.bridge.base + "/.well-known/openid-configuration",
                        timeout=HTTP_TIMEOUT).json()
    assert meta["issuer"] == stack.bridge.base
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        assert meta[endpoint].startswith(stack.bridge.base + "/"), meta
    assert "S256" in meta["code_challenge_methods_supported"]
    keys = requests.get(meta["jwks_uri"], timeout=HTTP_TIMEOUT).json()["keys"]
    assert keys and all("d" not in key for key in keys)


# -------------------------------------------------------------------------------------- refusals


def test_tampered_state_is_refused(stack):
    session = requests.Session()
    redirect = approved_redirect(stack, session)
    query = query_of(redirect)
    query["state"] = query["state"][:-1] + ("A" if query["state"][-1] != "A" else "B")
    tampered = stack.redirect_uri + "?" + urllib.parse.urlencode(query)
    assert_flask_error(session.get(tampered, timeout=HTTP_TIMEOUT), "mismatching_state")
    assert_signed_out(stack, session)


def test_replayed_code_through_flask_is_refused(stack):
    first = requests.Session()
    redirect = approved_redirect(stack, first)
    assert "Hello, Alice Example" in first.get(redirect, timeout=HTTP_TIMEOUT).text
    # The same callback URL in another browser session: Authlib has no state for it there.
    second = requests.Session()
    assert_flask_error(second.get(redirect, timeout=HTTP_TIMEOUT), "mismatching_state")
    assert_signed_out(stack, second)
    # And again in the session that used it: its state is spent.
    first.post(stack.flask.base + "/logout", timeout=HTTP_TIMEOUT)
    assert_flask_error(first.get(redirect, timeout=HTTP_TIMEOUT), "mismatching_state")
    assert_signed_out(stack, first)


def test_replayed_code_at_token_endpoint_is_invalid_grant_and_revokes(stack):
    code, verifier = direct_code(stack)
    reply = token_request(stack, code, verifier, stack.redirect_uri)
    assert reply.status_code == 200, reply.text
    tokens = reply.json()
    assert tokens["token_type"].lower() == "bearer" and tokens["id_token"].count(".") == 2
    userinfo_url = stack.bridge.base + "/userinfo"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = requests.get(userinfo_url, headers=bearer, timeout=HTTP_TIMEOUT)
    assert info.status_code == 200 and info.json()["name"] == "Alice Example", info.text

    replay = token_request(stack, code, verifier, stack.redirect_uri)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text
    revoked = requests.get(userinfo_url, headers=bearer, timeout=HTTP_TIMEOUT)
    assert revoked.status_code == 401, (revoked.status_code, revoked.text)


def test_wrong_client_secret_is_invalid_client(stack):
    code, verifier = direct_code(stack)
    reply = token_request(stack, code, verifier, stack.redirect_uri,
                          secret="not-the-secret-0123456789")
    assert reply.status_code == 401, (reply.status_code, reply.text)
    assert reply.json()["error"] == "invalid_client"
    assert reply.headers.get("WWW-Authenticate", "").lower().startswith("basic")
    # The same with client_secret_post.
    post = requests.post(stack.bridge.base + "/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": stack.redirect_uri,
        "code_verifier": verifier, "client_id": CLIENT_ID, "client_secret": "wrong-" * 5,
    }, timeout=HTTP_TIMEOUT)
    assert post.status_code in (400, 401) and post.json()["error"] == "invalid_client", post.text


def test_token_from_untrusted_issuer_is_denied(stack):
    evil = stack.start_issuer("https://evil.invalid", "evil-issuer")
    session = requests.Session()
    page, uri = flask_login(stack, session)
    sent = stack.phone.approve(uri, evil)
    assert sent.returncode == 0, sent.stderr
    assert_denied_at_flask(stack, session, page)


def test_token_with_wrong_nonce_is_denied(stack):
    session = requests.Session()
    page, uri = flask_login(stack, session)
    sent = stack.phone.approve(uri, stack.issuer, nonce="wrong-nonce")
    assert sent.returncode == 0, sent.stderr
    assert_denied_at_flask(stack, session, page)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_envelope_sealed_to_another_key_is_denied(stack, sealgate, tmp_path):
    from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

    other_private = tmp_path / "other.jwk"
    other_public = tmp_path / "other.pub.jwk"
    other_public.write_bytes(sealgate.ok("keygen", "--out", str(other_private)))
    session = requests.Session()
    page, uri = flask_login(stack, session)
    fields = parse_signin_uri(uri)
    token = stack.issuer.token(fields["cid"], fields["nonce"])
    binding = ("--aud", fields["cid"], "--mbx", fields["mbx"], "--exp", fields["exp"])
    mailbox = f"{stack.gateway.base}/v1/mailboxes/{fields['mbx']}"

    # `sealgate seal` names the key it sealed to, which the gateway refuses for this client.
    plain = sealgate.seal(other_public, token.encode(), *binding)
    refused = requests.put(mailbox, data=plain, headers={"Content-Type": "application/jose"},
                           timeout=HTTP_TIMEOUT)
    assert refused.status_code == 422, (refused.status_code, refused.text)

    # The same header naming the bridge's key (`sealgate seal` will not write a kid that is not
    # the key's thumbprint), sealed with pyhpke to the other key: the gateway takes it, the
    # bridge cannot open it.
    header = json.loads(base64.urlsafe_b64decode(plain.split(".")[0] + "=="))
    assert header["alg"] == "HPKE-4"
    header["kid"] = fields["kid"]
    header_b64 = b64url(json.dumps(header, separators=(",", ":")).encode())
    suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256,
                            AEADId.CHACHA20_POLY1305)
    recipient = json.loads(other_public.read_text())
    enc, context = suite.create_sender_context(
        KEMKey.from_jwk({k: recipient[k] for k in ("kty", "crv", "x")}), info=b"")
    ciphertext = context.seal(token.encode(), aad=header_b64.encode("ascii"))
    envelope = f"{header_b64}.{b64url(enc)}..{b64url(ciphertext)}."
    # It is a good envelope for the other key: that key opens it.
    secret = json.loads(other_private.read_text())
    opener = suite.create_recipient_context(
        enc, KEMKey.from_jwk({k: secret[k] for k in ("kty", "crv", "x", "d")}), info=b"")
    assert opener.open(ciphertext, aad=header_b64.encode("ascii")) == token.encode()

    deposit = requests.put(mailbox, data=envelope, headers={"Content-Type": "application/jose"},
                           timeout=HTTP_TIMEOUT)
    assert deposit.status_code == 201, (deposit.status_code, deposit.text)
    assert_denied_at_flask(stack, session, page)


def test_sign_in_left_to_expire(stack):
    short = stack.start_bridge("bridge-short-ttl", signin_ttl_secs=10)
    session = requests.Session()
    started = direct_authorize(short, stack.redirect_uri, session)
    assert int(parse_signin_uri(started["uri"])["exp"]) - time.time() <= 11
    status = wait_status(session, started["page"], "expired", timeout=25)
    query = query_of(status["redirect"])
    assert query["error"] == "access_denied" and query["state"] == started["state"], status
    assert query["iss"] == short.base and "code" not in query
    # A phone arriving late gets nowhere: the mailbox is gone.
    late = stack.phone.approve(started["uri"], stack.issuer)
    assert late.returncode != 0
    assert_flask_error(session.get(status["redirect"], timeout=HTTP_TIMEOUT), "access_denied")
    assert_signed_out(stack, session)


def test_cancel_returns_access_denied(stack):
    session = requests.Session()
    page, _ = flask_login(stack, session)
    reply = session.post(page + "/cancel", allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert reply.status_code == 303, (reply.status_code, reply.text)
    query = query_of(reply.headers["Location"])
    assert query["error"] == "access_denied" and query["iss"] == stack.bridge.base
    assert_flask_error(session.get(reply.headers["Location"], timeout=HTTP_TIMEOUT),
                       "access_denied")
    assert_signed_out(stack, session)


def test_unknown_redirect_uri_is_an_error_page_not_a_redirect(stack):
    verifier, challenge = pkce_pair()
    reply = requests.get(stack.bridge.base + "/authorize", params={
        "response_type": "code", "client_id": CLIENT_ID,
        "redirect_uri": "http://127.0.0.1:1/elsewhere", "scope": "openid", "state": "s",
        "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
    }, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert reply.status_code == 400 and "Location" not in reply.headers
    assert reply.headers["Content-Type"].startswith("text/html")


# -------------------------------------------------------------------------------------- browser


@pytest.fixture
def browser(request):
    """Headless Chromium through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: `apt-get install chromium chromium-driver`",
                        pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1000,900", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    failed = request.session.testsfailed
    yield driver
    if request.session.testsfailed > failed:
        print(f"browser at {driver.current_url}:\n{driver.page_source[:3000]}")
        print(driver.get_log("browser") if hasattr(driver, "get_log") else "")
    driver.quit()


def set_viewport(driver, width: int, height: int) -> None:
    """Resizes the window so that the page's viewport is `width` x `height` CSS pixels."""
    driver.set_window_size(width, height)
    extra_w, extra_h = driver.execute_script(
        "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];")
    if extra_w or extra_h:
        driver.set_window_size(width + extra_w, height + extra_h)
    time.sleep(0.3)


def test_browser_sign_in(stack, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(stack.flask.base + "/")
    browser.find_element(By.LINK_TEXT, "Sign in").click()
    WebDriverWait(browser, 15).until(ec.url_contains(stack.bridge.base + "/signin/"))
    page = browser.current_url

    qr = WebDriverWait(browser, 10).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, ".qr svg")))
    assert qr.size["width"] >= 150 and qr.size["height"] >= 150, qr.size
    link = browser.find_element(By.ID, "signin-request")
    uri = link.get_attribute("data-signin-request")
    assert uri.startswith("sealgate:signin?v=1&"), uri
    assert link.get_attribute("href") == uri
    assert "Sign in to Flask demo" in browser.find_element(By.TAG_NAME, "h1").text
    # The countdown runs.
    WebDriverWait(browser, 5).until(
        lambda d: re.fullmatch(r"\d+:\d\d", d.find_element(By.ID, "countdown").text))

    # The page's security headers, fetched with the browser's session cookie.
    cookie = browser.get_cookie("sealgate_bridge_session")
    assert cookie and cookie["httpOnly"] and cookie["path"] == "/signin/", cookie
    assert cookie.get("sameSite") == "Lax" and not cookie["secure"], cookie
    reply = requests.get(page, cookies={cookie["name"]: cookie["value"]}, timeout=HTTP_TIMEOUT)
    assert reply.status_code == 200
    csp = reply.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, csp
    assert signin_request_of(reply.text) == uri

    set_viewport(browser, 1000, 900)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT)), "screenshot not saved"

    set_viewport(browser, 390, 844)
    width, inner = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth];")
    assert width <= inner, f"horizontal scroll at 390px: scrollWidth {width} > innerWidth {inner}"
    assert browser.find_element(By.CSS_SELECTOR, ".qr svg").is_displayed()
    set_viewport(browser, 1000, 900)

    fields = parse_signin_uri(uri)
    token = stack.issuer.token(fields["cid"], fields["nonce"])
    sent = stack.phone.send_token(uri, token)
    delivered = time.monotonic()
    assert sent.returncode == 0, sent.stderr
    WebDriverWait(browser, 2, poll_frequency=0.05).until(
        lambda d: "Hello, Alice Example" in d.find_element(By.TAG_NAME, "body").text)
    elapsed = time.monotonic() - delivered
    print(f"greeted {elapsed:.3f} s after `sealgate send` returned")
    assert elapsed <= 2.0
    assert browser.current_url == stack.flask.base + "/"
    assert "alice@example.com" in browser.find_element(By.ID, "claims").text
