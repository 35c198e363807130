"""Debian's nginx in front of a service, running the shipped config: ``bench/nginx.py``
(the benchmark ``companion bench cdn`` runs it the same way)."""

from bench.nginx import CONF, Nginx, NginxError, nginx_binary, nginx_in_front

__all__ = ["CONF", "Nginx", "NginxError", "nginx_binary", "nginx_in_front"]
