#!/usr/bin/env python3
"""
The PyTorch peer of `npm run bench`: the same networks as src/models (cnn, preact-resnet, resnet18), the same
batch, threads and optimiser (SGD, momentum 0.9, weight decay 5e-4, cross-entropy), timed the same way
(median of repeats after warm-up). Run only by bench, never in the product's compute path.

Input: one JSON object on stdin, {"batch": 128, "repeats": 5, "cases": [{"id", "arch", "widths", "depth",
"width", "input": [h, w, c], "classes", "threads"}]}. Output: one JSON object on stdout,
{"torch": version, "results": [{"id", "trainImgS", "inferImgS"}]}.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class Cnn(nn.Module):
    """src/models/cnn.ts: conv-BN-ReLU per stage, 2x2 average pooling between stages, flatten, linear."""

    def __init__(self, widths, shape, classes):
        super().__init__()
        h, w, c = shape
        self.stages = nn.ModuleList()
        for i, width in enumerate(widths):
            self.stages.append(nn.Sequential(conv3(c, width), nn.BatchNorm2d(width), nn.ReLU()))
            c = width
            if i < len(widths) - 1:
                h, w = (h + 1) // 2, (w + 1) // 2
        self.pool = len(widths) - 1
        self.head = nn.Linear(h * w * c, classes)

    def forward(self, x):
        for i, s in enumerate(self.stages):
            x = s(x)
            if i < self.pool:
                x = F.avg_pool2d(x, 2, 2, ceil_mode=True)
        return self.head(torch.flatten(x, 1))


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), conv3(cin, cout, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), conv3(cout, cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        sc = self.shortcut(pre) if self.shortcut is not None else x
        return self.conv2(F.relu(self.bn2(self.conv1(pre)))) + sc


class PreActResNet(nn.Module):
    """src/models/preactResnet.ts."""

    def __init__(self, widths, depth, shape, classes):
        super().__init__()
        self.stem = conv3(shape[2], widths[0])
        blocks, cin = [], widths[0]
        for s, (width, d) in enumerate(zip(widths, depth)):
            for b in range(d):
                blocks.append(PreActBlock(cin, width, 2 if s > 0 and b == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.head(x.mean((2, 3)))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = conv3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3(cout, cout), nn.BatchNorm2d(cout)
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """src/models/resnet18.ts: the CIFAR ResNet-18 of the paper's code, with a width multiplier."""

    def __init__(self, width, shape, classes):
        super().__init__()
        ws = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(conv3(shape[2], ws[0]), nn.BatchNorm2d(ws[0]), nn.ReLU())
        blocks, cin = [], ws[0]
        for s, c in enumerate(ws):
            for b in range(2):
                blocks.append(BasicBlock(cin, c, 2 if s > 0 and b == 0 else 1))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


def build(case):
    shape, classes = case["input"], case.get("classes", 10)
    if case["arch"] == "cnn":
        return Cnn(case["widths"], shape, classes)
    if case["arch"] == "preact-resnet":
        return PreActResNet(case["widths"], case["depth"], shape, classes)
    if case["arch"] == "resnet18":
        return ResNet18(case.get("width", 1), shape, classes)
    raise ValueError(f"unknown arch {case['arch']}")


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run(case, batch, repeats):
    torch.set_num_threads(case["threads"])
    torch.manual_seed(0)
    model = build(case)
    h, w, c = case["input"]
    x = torch.rand(batch, c, h, w)
    y = torch.arange(batch) % case.get("classes", 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    model.train()
    train_ms = median_ms(step, repeats)
    model.eval()

    def infer():
        with torch.no_grad():
            return model(x).argmax(1)[0].item()

    infer_ms = median_ms(infer, repeats)
    return {"id": case["id"], "trainImgS": batch * 1000 / train_ms, "inferImgS": batch * 1000 / infer_ms}


def main():
    req = json.load(sys.stdin)
    results = [run(c, req.get("batch", 128), c.get("repeats", req.get("repeats", 5))) for c in req["cases"]]
    json.dump({"torch": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available(), "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
