"""AWS calls the router makes without botocore, where botocore's import is a cold start's
largest cost (SPEC §14): SigV4 signing (`sigv4`) and a DynamoDB client (`dynamodb`).
Importing this package imports neither; botocore's exception classes only, with `dynamodb`."""
