"""Compute and carbon accounting for every training stage: wall time, device-hours, energy, CO2.

Uses codecarbon's offline tracker (no network; grid intensity from the country code, default TUR). If the
tracker cannot run, falls back to a plain estimate: device-hours × assumed power × grid intensity.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

# Fallback assumptions (documented in the model card when used).
FALLBACK_WATTS_PER_CPU_CORE = 10.0
FALLBACK_WATTS_PER_GPU = 400.0
FALLBACK_GRID_KG_PER_KWH = {"TUR": 0.44}


@dataclass
class ComputeReport:
    wall_seconds: float
    device: str
    devices: int
    device_hours: float
    energy_kwh: float
    co2_kg: float
    country_iso_code: str
    method: str  # "codecarbon-offline" or "estimate"

    def to_dict(self) -> dict:
        return asdict(self)

    def scalars(self) -> dict[str, float]:
        return {
            "compute/wall_seconds": self.wall_seconds,
            "compute/device_hours": self.device_hours,
            "compute/energy_kwh": self.energy_kwh,
            "compute/co2_kg": self.co2_kg,
        }


class ComputeTracker:
    """`with ComputeTracker() as tracker: train()` then `tracker.report`."""

    def __init__(self, country_iso_code: str = "TUR", use_codecarbon: bool = True):
        self.country = country_iso_code
        self.use_codecarbon = use_codecarbon
        self.report: ComputeReport | None = None
        self._tracker = None

    def __enter__(self) -> ComputeTracker:
        self._start = time.perf_counter()
        if self.use_codecarbon:
            try:
                from codecarbon import OfflineEmissionsTracker

                self._tracker = OfflineEmissionsTracker(
                    country_iso_code=self.country, log_level="error", save_to_file=False, tracking_mode="process"
                )
                self._tracker.start()
            except Exception as exc:  # noqa: BLE001 - any tracker failure falls back to the estimate
                logger.warning("codecarbon unavailable (%s); using a plain estimate", exc)
                self._tracker = None
        return self

    def __exit__(self, *exc_info) -> None:
        wall = time.perf_counter() - self._start
        gpus = torch.cuda.device_count()
        device, devices = ("cuda", gpus) if gpus else ("cpu", int(os.environ.get("WORLD_SIZE", "1")))
        device_hours = wall / 3600 * devices
        energy = co2 = None
        if self._tracker is not None:
            try:
                co2 = float(self._tracker.stop() or 0.0)
                energy = float(self._tracker.final_emissions_data.energy_consumed)
                method = "codecarbon-offline"
            except Exception as exc:  # noqa: BLE001
                logger.warning("codecarbon failed at stop (%s); using a plain estimate", exc)
        if energy is None:
            watts = FALLBACK_WATTS_PER_GPU * gpus if gpus else FALLBACK_WATTS_PER_CPU_CORE * (os.cpu_count() or 1)
            energy = watts * wall / 3600 / 1000
            co2 = energy * FALLBACK_GRID_KG_PER_KWH.get(self.country, 0.475)
            method = "estimate"
        self.report = ComputeReport(
            round(wall, 3), device, devices, round(device_hours, 6), energy, co2, self.country, method
        )

    def write(self, output_dir: str | Path) -> Path:
        path = Path(output_dir) / "compute.json"
        path.write_text(json.dumps(self.report.to_dict(), indent=2))
        return path
