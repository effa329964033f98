"""The ways to run the one app, side by side, and what they share per process.

    serve.py            `edge-router serve`: the app on uvicorn (`run_server`), also the server
                        the Lambda stream mode runs
    lambda_buffered.py  router Lambda, `ResponseMode: buffered`: the app under Mangum (HTTP API)
    lambda_stream.py    router Lambda, `ResponseMode: stream`: the app on `run_server` behind the
                        Lambda Web Adapter (REST API response streaming); `functions/router/run.sh`
    health_checker.py   the scheduled probe Lambda
    container.py        built once per Lambda container: config, clock, DynamoDB client, health
                        store, EMF sink, logger (`open_container`), and the event loop of the
                        handlers that drive asyncio themselves
    emf.py              the EMF metrics sink (CloudWatch Embedded Metric Format on stdout)

Importing this package builds nothing; the composition roots (`functions/*/handler.py`,
`run.sh`, the CLI) do, once per process.
"""
