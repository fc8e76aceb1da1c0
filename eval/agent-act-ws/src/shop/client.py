"""The payment client."""


def connect(host, port=8080, retries=3):
    return {"host": host, "port": port, "retries": retries}
