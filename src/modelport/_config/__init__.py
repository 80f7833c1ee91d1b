"""The configuration file: reading (with places), layers, checking, aliases, finding.

The public face is :mod:`modelport.config`.
"""
