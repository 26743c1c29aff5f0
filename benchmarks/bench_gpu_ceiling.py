"""Raw compute ceilings of the bundled network on the current device (CUDA when present): forward films/s
at batch 256 (fp32 and bf16 autocast, channels_last) and whole-network train-step films/s. The
screening and fine-tune benchmarks divide their rates by these."""

from __future__ import annotations

import time

import torch

from radiview.inference.network import build_network


def rate(step, batch: int, device: torch.device, repeats: int = 20) -> float:  # type: ignore[no-untyped-def]
    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * repeats / (time.perf_counter() - t0)


def main() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = 256 if device.type == "cuda" else 32
    net = build_network({"backbone": "mobilenet_v3_small", "num_classes": 4, "hidden": 2500, "dropout": 0.5})
    net = net.to(device).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 224, 224, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 4, (batch,), device=device)
    net.eval()
    with torch.no_grad():
        fp32 = rate(lambda: net(x), batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            bf16 = rate(lambda: net(x), batch, device)
    net.train()
    opt = torch.optim.Adam(net.parameters(), 1e-4)

    def train_step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    train = rate(train_step, batch, device, repeats=10)
    print(
        f"device {device} batch {batch}: forward fp32 {fp32:.0f} films/s, forward bf16 {bf16:.0f} films/s, "
        f"train step {train:.0f} films/s"
    )


if __name__ == "__main__":
    main()
