"""What the engines return: one value per period of the span, in order, and the whole range's."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Durations:
    """Seconds; None when no incident qualifies."""

    mean: float | None = None
    median: float | None = None


@dataclass(frozen=True)
class DeployCounts:
    """Counted deploys (production, succeeded or rolled back) of one period or of the range."""

    deploys: int = 0
    deployers: int = 0  # distinct deployer names
    rolled_back: int = 0
    # Not rolled back and the cause of ≥ 1 incident: a rolled-back deploy that caused one is
    # already counted as a failure, and a deploy counts once however many incidents it caused.
    caused: int = 0
    rework: int = 0  # remediated ≥ 1 incident

    @property
    def failed(self) -> int:
        """The change failure rate's numerator."""
        return self.rolled_back + self.caused


@dataclass(frozen=True)
class DeployFigures:
    periods: tuple[DeployCounts, ...]
    # Distinct deployers over the range: unlike the other counts they don't add up over periods.
    deployers: int = 0

    @property
    def totals(self) -> DeployCounts:
        """The range's counts: sums over the periods (every deploy is in exactly one), and the
        range's distinct deployers."""
        return DeployCounts(
            deploys=sum(p.deploys for p in self.periods),
            deployers=self.deployers,
            rolled_back=sum(p.rolled_back for p in self.periods),
            caused=sum(p.caused for p in self.periods),
            rework=sum(p.rework for p in self.periods),
        )


@dataclass(frozen=True)
class IncidentCounts:
    """The incidents that started in one period or in the range, archived ones left out."""

    incidents: int = 0
    deploy_related: int = 0  # with ≥ 1 causing deploy
    unresolved: int = 0
    mttd: Durations = field(default_factory=Durations)  # detected − started
    mttr: Durations = field(default_factory=Durations)  # resolved − detected
    time_to_restore: Durations = field(default_factory=Durations)  # resolved − started
    mtta: Durations = field(default_factory=Durations)  # acknowledged − detected


@dataclass(frozen=True)
class IncidentFigures:
    periods: tuple[IncidentCounts, ...]
    totals: IncidentCounts


@dataclass(frozen=True)
class LeadMedians:
    """Median lead time for changes, seconds, per period and over the range; None without commits."""

    periods: tuple[float | None, ...]
    total: float | None = None


@dataclass(frozen=True)
class RecoveryCounts:
    """Failed deployment recovery time over the failed deploys of one period or of the range
    (bucketed by the failed deploy's deployed_at): seconds from it to its recovery, over those
    recovered; `unrecovered` counts those not recovered yet (left out of mean and median)."""

    recovery: Durations = field(default_factory=Durations)
    unrecovered: int = 0


@dataclass(frozen=True)
class RecoveryFigures:
    periods: tuple[RecoveryCounts, ...]
    totals: RecoveryCounts
