"""moto server for the AWS-wire conformance tests, single-threaded.

Threaded (moto_server's default), moto evaluates conditional transactions concurrently and oversells: we saw 11
orders placed on 10 units. One request at a time is how DynamoDB's conditions behave for a single item.
Usage: moto_server.py PORT
"""

import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

if __name__ == "__main__":
    run_simple(
        "127.0.0.1",
        int(sys.argv[1]),
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        use_reloader=False,
    )
