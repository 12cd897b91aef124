"""HAProxy configurations used by capture.py."""

from __future__ import annotations


def lab_config(p: dict[str, int]) -> str:
    """The runtime config: servers meant to end up in every state HAProxy can show."""
    return f"""\
global
    stats socket unix@admin.sock level admin mode 600
    stats socket unix@operator.sock level operator mode 600
    stats socket unix@user.sock level user mode 600
    stats timeout 30s
    node capture-node
    description Capture lab

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 1s

frontend fe_main
    description Main site, "public" entry
    bind 127.0.0.1:{p['fe']} name main
    option socket-stats
    stick-table type ip size 1m expire 10m store http_req_rate(10s),conn_cur,gpc0
    http-request track-sc0 src
    acl is_api path_beg -f api.acl
    acl from_lo src 127.0.0.0/8
    http-request sc-inc-gpc0(0) if is_api
    http-request set-header X-Color %[req.hdr(host),lower,map(hosts.map,none)]
    use_backend be_api if is_api from_lo
    default_backend be_app

frontend fe_stopped
    bind 127.0.0.1:{p['fe_stopped']}
    default_backend be_app

frontend fe_shut
    bind 127.0.0.1:{p['fe_shut']}
    default_backend be_app

backend be_app
    description App servers, "main" pool
    balance roundrobin
    option httpchk GET /health
    default-server inter 1s fastinter 1s downinter 1s rise 3 fall 3
    server up1 127.0.0.1:{p['ok']} check
    server up2 127.0.0.1:{p['ok']} check
    server drain_cli 127.0.0.1:{p['ok']} check
    server weight0 127.0.0.1:{p['ok']} check weight 0
    server weight0_cli 127.0.0.1:{p['ok']} check
    server maint_cfg 127.0.0.1:{p['ok']} check disabled
    server maint_cli 127.0.0.1:{p['ok']} check
    server nocheck 127.0.0.1:{p['ok']}
    server down_closed 127.0.0.1:{p['closed']} check
    server bad_reason 127.0.0.1:{p['bad']} check
    server flap_down 127.0.0.1:{p['flap_down']} check
    server flap_up 127.0.0.1:{p['flap_up']} check
    server backup1 127.0.0.1:{p['ok']} check backup

backend be_api
    option httpchk GET /health
    http-check disable-on-404
    default-server inter 1s rise 2 fall 2
    server api_ok 127.0.0.1:{p['ok']} check
    server api_nolb 127.0.0.1:{p['notfound']} check
    server agent_down 127.0.0.1:{p['ok']} check agent-check agent-port {p['agent_down']} \
agent-inter 1s
    server agent_drain 127.0.0.1:{p['ok']} check agent-check agent-port {p['agent_drain']} \
agent-inter 1s

backend be_track
    server trk_maint 127.0.0.1:{p['ok']} track be_app/maint_cfg
    server trk_up 127.0.0.1:{p['ok']} track be_app/up1

backend be_dead
    server dead1 127.0.0.1:{p['closed']} check inter 1s rise 1 fall 1

resolvers lab
    nameserver ns1 127.0.0.1:{p['dns']}
    resolve_retries 1
    timeout resolve 1s
    timeout retry 1s

backend be_dns
    server dns1 nosuch.invalid:80 resolvers lab init-addr none check

listen tcp_hold
    mode tcp
    bind 127.0.0.1:{p['tcp_hold']}
    timeout client 120s
    timeout server 120s
    server hold1 127.0.0.1:{p['hold']}

backend st_strings
    stick-table type string len 32 size 100 expire 10m store gpc0,http_req_cnt
"""


def conflict_section(port: int) -> str:
    """A frontend whose bind takes a port already in use: passes -c, fails at reload."""
    return f"""
frontend fe_conflict
    bind 127.0.0.1:{port}
    default_backend be_app
"""


_VALID = """\
global
    maxconn 100

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend web
    bind 127.0.0.1:18080
    default_backend app

backend app
    server s1 127.0.0.1:18081 check
"""

_SYNTAX_ERROR = _VALID.replace("check\n", "chekc\n")

_WARNINGS = """\
global
    maxconn 100

defaults
    mode tcp

frontend web
    bind 127.0.0.1:18080
    option httplog
    default_backend app

backend app
    server s1 127.0.0.1:18081 check
"""

_EXTRA_BAD = """\
backend extra
    balance roundrobin
    server s2 127.0.0.1:18082 check
    balance nosuchalgo
"""

_NO_LISTENER = """\
global
    maxconn 100

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
"""

# name -> {file name -> text}; files are passed in order as -f FILE
CHECK_CONFIGS: dict[str, dict[str, str]] = {
    "check_valid": {"main.cfg": _VALID},
    "check_syntax_error": {"main.cfg": _SYNTAX_ERROR},
    "check_warnings": {"main.cfg": _WARNINGS},
    "check_error_second_file": {"main.cfg": _VALID, "extra.cfg": _EXTRA_BAD},
    "check_no_listener": {"main.cfg": _NO_LISTENER},
}
