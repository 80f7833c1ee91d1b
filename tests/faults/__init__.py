"""Fault-injection tests: real loopback sockets, servers scripted to misbehave."""
