"""What Heroku's router tells the app about a request's client."""


def client_address(environ):
    """The client's address: the last X-Forwarded-For entry, which the router appends. Earlier
    entries are whatever the client sent, so they identify nothing."""
    forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.rsplit(",", 1)[-1].strip() or environ.get("REMOTE_ADDR", "")
