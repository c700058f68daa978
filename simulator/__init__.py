"""A local stand-in for the Ovopark open platform (gateway and media relay), for tests and demos."""

from simulator.config import KeyInfo, SimConfig
from simulator.core import Simulator
from simulator.data import SimCamera, SimData, SimStore, generate
from simulator.faults import FaultInjector
from simulator.gateway import CallRecord, PtzMove

__all__ = [
    "CallRecord",
    "FaultInjector",
    "KeyInfo",
    "PtzMove",
    "SimCamera",
    "SimConfig",
    "SimData",
    "SimStore",
    "Simulator",
    "generate",
]
