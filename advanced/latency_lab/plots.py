"""The lab's pictures, as PNG files (matplotlib): throughput per producer, latency
distributions per pipeline, and latency against the input rate."""

COLORS = {"direct": "tab:gray", "trigger-0": "tab:blue", "trigger-1s": "tab:cyan",
          "real-time": "tab:red", "dstream": "tab:green"}


def pyplot():
    """matplotlib, imported when the first plot is drawn (it takes seconds to import: the
    lab says "no broker" before that), drawing into files only, no window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def producers(rows, path):
    """records/s of each client, one group of bars per (acks, batching), log scale."""
    configs = list(dict.fromkeys((r["acks"], r["batching"]) for r in rows))
    clients = list(dict.fromkeys(r["client"] for r in rows))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    height = 0.8 / len(clients)
    for i, client in enumerate(clients):
        rate = {(r["acks"], r["batching"]): r["records_per_s"] for r in rows if r["client"] == client}
        ax.barh([c + i * height for c in range(len(configs))], [rate[c] for c in configs], height,
                label=client)
    ax.set_yticks([c + height * (len(clients) - 1) / 2 for c in range(len(configs))],
                  [f"acks={acks}\nbatching: {batching}" for acks, batching in configs])
    ax.set_xscale("log")
    ax.set_xlabel("records per second (log scale)")
    ax.invert_yaxis()  # the first configuration on top
    records = sorted({r["records"] for r in rows}, reverse=True)
    ax.set_title(f"Producers: {' or '.join(map(str, records))} records of the same size, one broker")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def latency_cdf(latencies, path):
    """For each input rate, the share of messages (y) that arrived within x ms, per pipeline."""
    rates = sorted({rate for by_rate in latencies.values() for rate in by_rate})
    plt = pyplot()
    fig, axes = plt.subplots(1, len(rates), figsize=(5 * len(rates), 4.5), sharey=True, squeeze=False)
    for ax, rate in zip(axes[0], rates, strict=True):
        for name, by_rate in latencies.items():
            ms = by_rate.get(rate) or []
            if ms:
                ax.step(ms, [(i + 1) / len(ms) for i in range(len(ms))], where="post", label=name,
                        color=COLORS.get(name))
        ax.set_xscale("log")
        ax.set_xlabel("latency, producer to consumer (ms, log scale)")
        ax.set_title(f"{rate} messages/s")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("share of messages arrived")
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def latency_vs_rate(summary, path):
    """p50 (solid) and p99 (dashed) of each pipeline against the input rate."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, by_rate in summary.items():
        rates = sorted(by_rate)
        for key, style in (("p50_ms", "-o"), ("p99_ms", "--")):
            ax.plot(rates, [by_rate[r][key] for r in rates], style, color=COLORS.get(name),
                    label=f"{name} {key[:3]}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("input rate (messages per second, log scale)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Latency against input rate: p50 solid, p99 dashed")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
