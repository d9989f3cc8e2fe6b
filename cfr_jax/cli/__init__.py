"""The command-line entry points (installed as console scripts; see pyproject.toml).

    cfr-train   train.py    trains a config in chunks, resumably (`python -m launch.train`)
    cfr-status  status.py   one table row per run or instance
    cfr-plot    plot.py     exploitability against iterations and time
    cfr-query   query.py    a trained hold'em subgame's strategy at one betting line
    cfr-export  export.py   a trained run's average policy as .npz or .json

Each module's `main()` is the console script; `launch/<name>.py` calls the
same function, so `python -m launch.<name>` from the repository root works too.
The logic lives in the functions next to `main()`, importable without
defining any flag.
"""
