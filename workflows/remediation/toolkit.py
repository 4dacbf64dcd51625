"""What the paths of the loop work with: the run's state and the concerns they share."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.remediation.approval import ApprovalGate
from workflows.remediation.converge import Convergence
from workflows.remediation.merge import MergeWait
from workflows.remediation.record import IncidentRecord
from workflows.remediation.snapshots import Snapshots
from workflows.remediation.state import RunState
from workflows.remediation.steps import Steps
from workflows.remediation.verify import Verifier


@dataclass(frozen=True)
class Toolkit:
    state: RunState
    steps: Steps
    record: IncidentRecord
    gate: ApprovalGate
    verifier: Verifier
    snapshots: Snapshots
    merges: MergeWait
    convergence: Convergence
