#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# mkseeds.py: writes the hand-made seeds of tests/fuzz/corpus/<target>/seed-*, real-shaped
# inputs taken from PROVIDERS.md section 1 (Twilio captures and signature vectors),
# docs/API.md (REST bodies) and docs/PROTOCOL.md (agent frames). Inputs found by fuzzing
# campaigns are kept next to them under their libFuzzer names. Run from anywhere; idempotent.
import hashlib, hmac, base64, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = b"test_auth_token"


def out(target, name, data, prefix="seed-"):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, prefix + name), "wb") as f:
        f.write(data)


def sig(token, url, body=None):
    s = url
    if body is not None:
        pairs = []
        for piece in body.split(b"&"):
            if not piece:
                continue
            k, _, v = piece.partition(b"=")
            dec = lambda x: bytes.fromhex("") if False else __import__("urllib.parse").parse.unquote_to_bytes(x.replace(b"+", b" "))
            pairs.append((dec(k), dec(v)))
        last = None
        for kv in sorted(set(pairs)):
            s += kv[0] + kv[1]
    return base64.b64encode(hmac.new(token, s, hashlib.sha1).digest())


SM1 = "SM" + "1" * 32
SM4 = "SM" + "4" * 32
MG2 = "MG" + "2" * 32
AC3 = "AC" + "3" * 32
INBOUND = ("ToCountry=US&ToState=CA&SmsMessageSid=%s&NumMedia=0&ToCity=&FromZip=94105&SmsSid=%s"
           "&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=Hello+there%%21"
           "&FromCountry=US&To=%%2B14155550100&MessagingServiceSid=%s&ToZip=&NumSegments=1"
           "&MessageSid=%s&AccountSid=%s&From=%%2B14155550123&ApiVersion=2010-04-01"
           % (SM1, SM1, MG2, SM1, AC3))
STATUS = ("SmsSid=%s&SmsStatus=undelivered&MessageStatus=undelivered&To=%%2B14155550123"
          "&MessagingServiceSid=%s&MessageSid=%s&AccountSid=%s&From=%%2B14155550100"
          "&ApiVersion=2010-04-01&ErrorCode=30003" % (SM4, MG2, SM4, AC3))
MMS = ("MessageSid=MM%s&AccountSid=%s&From=%%2B14155550123&To=%%2B14155550100&Body=&NumMedia=2"
       "&MediaUrl0=https%%3A%%2F%%2Fapi.twilio.com%%2F2010-04-01%%2FAccounts%%2F%s%%2FMessages%%2FMM1%%2FMedia%%2FME1"
       "&MediaContentType0=image%%2Fjpeg&MediaUrl1=https%%3A%%2F%%2Fexample.com%%2Fa.png"
       "&MediaContentType1=image%%2Fpng&SmsStatus=received" % ("5" * 32, AC3, AC3))
STOP = ("MessageSid=%s&AccountSid=%s&From=%%2B14155550123&To=%%2B14155550100&Body=+stop+"
        "&OptOutType=STOP&NumSegments=1" % (SM1, AC3))
T_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
T2 = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212"
T1 = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212"
SMS_URL = "https://hub.example.com/webhooks/twilio/sms?tenant=acme"
STATUS_URL = "https://hub.example.com/webhooks/twilio/status"

# the published and computed vectors must hold, or the seeds are wrong
assert sig(b"12345", T_URL.encode(), T2.encode()) == b"RSOYDt4T1cUTdK1PDd93/VVr8B8="
assert sig(TOKEN, SMS_URL.encode(), INBOUND.encode()) == b"eP9h7by6SQlrkzY9qmU6uDdwovE="
assert sig(TOKEN, STATUS_URL.encode(), STATUS.encode()) == b"6w45Of5ey9S7xIsbUut+LkIc27o="

# ---- form ----
for i, b in enumerate([INBOUND, STATUS, MMS, STOP, T2, "a=1&&b=%zz", "a&b=&=c&%41%42=%e2%9c%93+x",
                       "tenant=acme&bodySHA256=0a1f"]):
    out("form", "%02d" % i, b)

# ---- twilio_sig: url NUL params NUL token NUL sig NUL body ----
J = b'{"property": "value", "boolean": true}'
T7 = T_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
for i, (u, p, t, s, b) in enumerate([
        (T_URL, T1, "12345", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", b""),
        (T_URL, T2, "12345", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", b""),
        (T7, "", "12345", "a9nBmqA0ju/hNViExpshrM61xv4=", J),
        (SMS_URL, INBOUND, "test_auth_token", "eP9h7by6SQlrkzY9qmU6uDdwovE=", b""),
        (STATUS_URL, STATUS, "test_auth_token", "6w45Of5ey9S7xIsbUut+LkIc27o=", b""),
        ("https://hub.example.com:443/webhooks/twilio/sms?tenant=acme", INBOUND, "test_auth_token",
         "eP9h7by6SQlrkzY9qmU6uDdwovE=", b""),
        ("http://[::1]:80/x?y=1#frag", "a=1&a=1&a=0", "k", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", b""),
        ("https://user:pw@host/p", "", "k", "", b"")]):
    out("twilio_sig", "%02d" % i, b"\0".join([u.encode(), p.encode(), t.encode(), s.encode(), b]))

# ---- sms_webhook: mode, url NUL headers NUL body ----
H = "I-Twilio-Idempotency-Token: 7c1d5b4e-0000-4000-8000-000000000001\nUser-Agent: TwilioProxy/1.1"
for i, (mode, u, h, b) in enumerate([
        (1, SMS_URL, H, INBOUND), (1, STATUS_URL, H, STATUS), (1, SMS_URL, H, MMS),
        (1, SMS_URL, "", STOP), (1 | 2, SMS_URL + "&" + STOP, "", ""),
        (1 | 8, SMS_URL, "", STOP.replace("OptOutType=STOP&", "")),
        (0, SMS_URL, "X-Twilio-Signature: eP9h7by6SQlrkzY9qmU6uDdwovE=\n" + H, INBOUND),
        (0, SMS_URL, "X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA=", INBOUND),
        (1 | 4, SMS_URL, "Content-Type: application/json", '{"a":1}'),
        (1, SMS_URL, "", INBOUND.replace("Hello+there%21", "%3C%2FMessage%3E%26amp%3B+%E2%9C%93%01"))]):
    out("sms_webhook", "%02d" % i, bytes([mode]) + b"\0".join([u.encode(), h.encode(), b.encode()]))

# ---- json ----
JS = [
    '{"email":"owner@acme.test","password":"correct horse battery"}',
    '{"token":"WEi2E7g63ZHCgGHZGQtby1aNoQrdwgwUsXfmE7IcrHs","password":"abcdefgh1"}',
    '{"name":"Ann","phone":"+14155550123","email":"a@x.io","notes":"n"}',
    '{"status":"snoozed","snoozed_until":"2026-11-25T17:18:55.771Z"}',
    '{"sms_help_text":"Help!","auto_reply":"Away","unified_threads":false}',
    '{"type":"hello","last_seq":null}', '{"type":"ping","id":[1,{"x":-0.5e-3}]}',
    '{"type":"send","id":"r1","conversation_id":1,"body":"hi \\u00e9\\ud83d\\ude00","client_id":"c1"}',
    '{"code":21211,"message":"The \'To\' number +1555 is not a valid phone number.","status":400}',
    '{"a":9223372036854775807,"b":-9223372036854775808,"c":9223372036854775808,"d":1E400}',
    '{"k":"\\u0000","k":"dup","\\u003c":"\\/"}', '[' * 40 + ']' * 40,
    '{"s":"\\udc00"}', '"\xc3\xa9"', ' [true,false,null] ',
]
for i, j in enumerate(JS):
    out("json", "%02d" % i, j)

# ---- config ----
CF = [
    '{"listen":"127.0.0.1:8080","db":"switchboard.db","public_url":"https://hub.example.com/",'
    '"web_root":"web","log_level":"debug","pwhash":"min","pwhash_threads":4,"session_days":30,'
    '"demo":true,"bridge_dir":"/usr/lib/sb","secret_key":"' + "ab" * 32 + '"}',
    '{"listen":"[::1]:0","log_level":3,"demo":"yes","session_days":"7"}',
    '{"secret_key":12}', '{"pwhash_threads":65}', '{"nope":1}', '[]', '{"listen":"x:99999"}',
    '{"public_url":"ftp://x"}', '{"db":{"a":1}}', '{"demo":"maybe"}', '{"listen":":80"}',
]
for i, c in enumerate(CF):
    out("config", "%02d" % i, c)

# ---- twiml ----
TW = [
    '<?xml version="1.0" encoding="UTF-8"?><Response/>',
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks! We &lt;3 you &amp; &quot;yours&quot; &apos;</Message></Response>',
    '<Response><Message><Body>nested</Body></Message><Message>second</Message></Response>',
    '<Response><Message>unterminated &amp', '<Message>' + '\u00e9' * 250 + '</Message>',
    '<Message>&#x41;&#65;&amp;lt;</Message>',
]
for i, t in enumerate(TW):
    out("twiml", "%02d" % i, t)

# ---- server: raw HTTP/1.1 and WebSocket bytes; placeholders @COOKIE@ @CSRF@ @HOST@ @ORIGIN@ ----
def http(method, path, body=None, auth=True, ctype="application/json", extra=""):
    h = "%s %s HTTP/1.1\r\nHost: @HOST@\r\nOrigin: @ORIGIN@\r\n" % (method, path)
    if auth:
        h += "Cookie: @COOKIE@\r\nX-CSRF-Token: @CSRF@\r\n"
    h += extra
    if body is not None:
        h += "Content-Type: %s\r\nContent-Length: %d\r\n" % (ctype, len(body.encode()))
    return h + "\r\n" + (body or "")


def ws_frame(payload, opcode=1, fin=True, mask=b"\0\0\0\0"):
    p = payload.encode() if isinstance(payload, str) else payload
    b0 = (0x80 if fin else 0) | opcode
    n = len(p)
    hdr = bytes([b0]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(p))


WS_UP = ("GET /ws HTTP/1.1\r\nHost: @HOST@\r\nOrigin: @ORIGIN@\r\nCookie: @COOKIE@\r\n"
         "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sb-agent.v1\r\n\r\n").encode()
SV = [
    http("GET", "/healthz", auth=False), http("GET", "/readyz", auth=False),
    http("GET", "/metrics", auth=False),
    http("POST", "/api/v1/auth/login", '{"email":"owner@fuzz.example","password":"wrong-password"}', auth=False),
    http("POST", "/api/v1/auth/accept-invite", '{"token":"WEi2E7g63ZHCgGHZGQtby1aNoQrdwgwUsXfmE7IcrHs","password":"abcdefgh1"}', auth=False),
    http("GET", "/api/v1/me"),
    http("POST", "/api/v1/contacts", '{"name":"Ann","phone":"+14155550123","email":"a@x.io","notes":"n"}'),
    http("PATCH", "/api/v1/contacts/1", '{"name":"Ann B"}'),
    http("GET", "/api/v1/contacts?q=ann&limit=1"),
    http("GET", "/api/v1/conversations?status=all&assignee=me"),
    http("POST", "/api/v1/conversations", '{"contact_id":1}'),
    http("POST", "/api/v1/conversations/1/assign", '{"agent_id":1}'),
    http("POST", "/api/v1/conversations/1/status", '{"status":"snoozed","snoozed_until":"2026-11-25T17:18:55.771Z"}'),
    http("GET", "/api/v1/conversations/1/messages?limit=50"),
    http("POST", "/api/v1/conversations/1/notes", '{"body":"hello","client_id":"c1"}'),
    http("POST", "/api/v1/canned-responses", '{"shortcut":"hi","title":"Hi","body":"Hello there"}'),
    http("POST", "/api/v1/agents", '{"email":"new@fuzz.example","name":"New","role":"agent"}'),
    http("PATCH", "/api/v1/agents/2", '{"role":"admin","active":false,"name":"N"}'),
    http("PUT", "/api/v1/settings", '{"sms_help_text":"Help!","auto_reply":"Away","unified_threads":false}'),
    http("GET", "/api/v1/events?after=0&limit=1"),
    http("POST", "/api/v1/channels", '{"kind":"sms","name":"Sandbox","sandbox":true,"config":{"from":"+14155550100"}}'),
    http("GET", "/api/v1/channels"),
    http("POST", "/api/v1/channels/1/simulate", '{"from":"+14155550123","body":"hello STOP"}'),
    http("GET", "/api/v1/channels/1/simulator"),
    http("POST", "/api/v1/conversations/1/messages", '{"body":"hi","client_id":"c2","channel_id":1}'),
    http("POST", "/api/v1/segments/count", '{"body":"hello \u00e9"}'),
    http("POST", "/api/v1/messages/1/retry", ""),
    http("POST", "/webhooks/sms/nokey", INBOUND, auth=False, ctype="application/x-www-form-urlencoded",
         extra="X-Twilio-Signature: eP9h7by6SQlrkzY9qmU6uDdwovE=\r\n"),
    http("POST", "/sandbox/sms/2010-04-01/Accounts/%s/Messages.json" % AC3, "To=%2B1&Body=x", auth=False,
         ctype="application/x-www-form-urlencoded"),
    "GET /index.html HTTP/1.1\r\nHost: @HOST@\r\n\r\nGET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /api/v1/contacts HTTP/1.1\r\nHost: @HOST@\r\nCookie: @COOKIE@\r\nX-CSRF-Token: @CSRF@\r\n"
    "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n5\r\n{\"nam\r\n9\r\ne\":\"Bob\"}\r\n0\r\n\r\n",
]
for i, s in enumerate(SV):
    out("server", "%02d" % i, s)
frames = [
    [ws_frame('{"type":"hello","last_seq":0}'), ws_frame('{"type":"ping","id":1}'),
     ws_frame('{"type":"typing","conversation_id":1,"on":true}'), ws_frame('{"type":"viewing","conversation_id":null}'),
     ws_frame('{"type":"read","id":"r","conversation_id":1}'),
     ws_frame('{"type":"send","id":"s","conversation_id":1,"body":"hi","client_id":"c9"}')],
    [ws_frame('{"type":"ping","id":1}'), ws_frame('{"type":"hello","last_seq":null}'), ws_frame('{"type":"bogus"}')],
    [ws_frame('{"type":"hello",', fin=False), ws_frame('"last_seq":null}', opcode=0), ws_frame(b"\x03\xe8", opcode=8)],
    [ws_frame('{"type":"hello","last_seq":null}'), ws_frame(b"ping!", opcode=9), ws_frame(b"\xff\xfe", opcode=1)],
]
for i, fs in enumerate(frames):
    out("server", "ws-%02d" % i, WS_UP + b"".join(fs))
# last in name order: it ends the session (the target logs in again when it finds it gone)
out("server", "zz-seed-logout", http("POST", "/api/v1/auth/logout", ""), prefix="")
print("seeds written under", os.path.join(HERE, "corpus"))
