"""HTTP only: parse the request, call the domain, render a page or a JSON answer."""
