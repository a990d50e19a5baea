-- wrk through a forward proxy: send the absolute-form target the proxy expects.
wrk.path = os.getenv("TARGET")
wrk.headers["Host"] = wrk.path:match("^https?://([^/]+)")
