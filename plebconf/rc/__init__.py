"""rc.conf support: parse rc.conf files, plan the rc.d network start as tool command lines.

    from plebconf.rc import parse_files, plan
    rcvars = parse_files(["/etc/rc.conf", "/etc/rc.conf.local"])
    p = plan(rcvars, live_interfaces=["lo0", "vnet0"])
    for step in p.steps: step.argv, step.var, step.file, step.line, step.tolerate_error
    p.warnings

    from plebconf.rc.save import save, RunningConfig   # running config -> rc.conf text

    from plebconf.rc.apply import rc_program, batch_program, execute   # applying them
    from plebconf.rc.running import running_config, diff               # reading a stack

See parser.py (sh subset), context.py (Step/Plan/Context, rc.subr helpers), plan.py
(rc.d order), netif.py, ifalias.py, routing.py, static_arp.py (one module per rc.d piece),
save.py, apply.py (the executor's names: steps -> the tools' ops -> one atomic batch, or
best-effort; batch files; split into command, shapes, programs, executor, sources) and
running.py (RunningConfig from a stack's dumps; rc diff).
"""

from .parser import RcSyntaxError, RcVars, Value, eval_words, parse_files, parse_text
from .plan import DEFAULTS, Plan, Step, checkyesno, plan

__all__ = ["RcSyntaxError", "RcVars", "Value", "eval_words", "parse_files", "parse_text",
           "DEFAULTS", "Plan", "Step", "checkyesno", "plan"]
