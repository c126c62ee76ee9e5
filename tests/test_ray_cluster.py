"""Lost nodes: a simulated Ray cluster on this machine (a head and two one-CPU worker nodes).

Killing a worker node halfway through an explore changes nothing in the
final store (Ray runs its chunks again, with their own seeds); killing the
node of a training actor replaces the actor, and the run finishes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'mapo[ray]')")
from conftest import TINY
from ray.cluster_utils import Cluster
from test_ray import explore_twice


@pytest.fixture
def nodes():
    """A head that runs nothing (the driver joins it) and two worker nodes of one CPU each."""
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, workers
    cluster.shutdown()


def test_a_worker_node_lost_halfway_through_explore_leaves_the_same_store(
        prepared_demo: Path, tmp_path: Path, nodes) -> None:
    from mapo_cli.core.cluster import RayCluster

    cluster, workers = nodes
    data = tmp_path / "data.jsonl"
    lines = (prepared_demo / "random-split-1-dev.jsonl").read_text().splitlines()[:60]
    data.write_text("\n".join(lines) + "\n")
    (tmp_path / "tables.jsonl").write_text((prepared_demo / "tables.jsonl").read_text())
    lost: list[int] = []

    def lose_a_node(progress) -> None:
        if progress.done >= progress.total // 2 and not lost:
            cluster.remove_node(workers[1])  # its running chunks die with it
            lost.append(progress.done)

    with RayCluster(cluster.address) as joined:
        assert joined.nodes == 3 and joined.cpus == 2
        local, on_ray = explore_twice(data, tmp_path, joined, on_progress=lose_a_node)
        assert joined.nodes == 2
    assert lost and lost[0] < 60
    assert on_ray == local


def test_a_training_actor_whose_node_is_lost_is_replaced(tmp_path: Path, nodes,
                                                        prepared_demo: Path) -> None:
    from mapo_cli.core.cluster import RayCluster
    from mapo_cli.learn.config import merge, read_config_file
    from mapo_cli.learn.train import train
    from mapo_cli.search.driver import explore_data
    from mapo_cli.search.explore import ExploreSettings

    cluster, workers = nodes
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join((prepared_demo / "random-split-1-train.jsonl").read_text()
                              .splitlines()[:30]) + "\n")
    (tmp_path / "tables.jsonl").write_text((prepared_demo / "tables.jsonl").read_text())
    explore_data(data, tmp_path / "store", ExploreSettings(), workers=1, samples_per_example=100)
    (tmp_path / "tiny.toml").write_text(TINY)
    config = merge(read_config_file(tmp_path / "tiny.toml"), {
        "train": str(data), "dev": str(data), "store": str(tmp_path / "store"), "steps": 10,
        "eval_every": 10, "actors": 2, "backend": "ray", "read_only_store": True})

    def lose_a_node(progress) -> None:
        if progress.step == 3:
            lost = workers[1].node_id
            cluster.remove_node(workers[1])
            cluster.add_node(num_cpus=1)  # where the replacement can go
            wait_until_dead(lost)  # else the run can end before Ray tells the driver

    with RayCluster(cluster.address) as joined:
        summary = train(config, tmp_path / "run", on_progress=lose_a_node, cluster=joined)
    assert summary["steps"] == 10 and summary["actors_replaced"] == 1


def wait_until_dead(node_id: str, seconds: float = 60.0) -> None:
    """Block until the cluster's control store has marked this node dead."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(node["NodeID"] == node_id and not node["Alive"] for node in ray.nodes()):
            return
        time.sleep(0.1)
    raise AssertionError(f"node {node_id} still alive after {seconds:.0f} s")
