"""NATS JetStream: topology, wire messages, the dispatcher, the result recorder and the worker."""
