"""The studio's HTTP contract and every refusal: samples, images, masks in and out, 404 for ids
that are not samples (no traversal), 422 for bad masks, 401 without the token, 413 for big bodies,
two tabs on one sample."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from datasetgan.annotate.server import create_app
from datasetgan.annotate.studio import Studio
from datasetgan.interpreter import load_annotations
from tests.annotate.helpers import CLASSES, make_run, random_interpreter


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_run(tmp_path_factory.mktemp("studio"))


def _png(array: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _client(run_folder: Path, **kw: object) -> TestClient:
    return TestClient(create_app(Studio.open(run_folder), **kw))  # type: ignore[arg-type]


def test_samples_images_and_a_saved_mask_that_train_interpreter_reads(
    run: tuple[Path, Path],
) -> None:
    folder, _ = run
    client = _client(folder)
    samples = client.get("/api/samples").json()
    assert [s["id"] for s in samples] == list(range(6))
    assert all(s["status"] == "todo" and s["score"] is None for s in samples)
    image = client.get("/api/samples/2/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (32, 32)
    assert client.get("/api/annotations/2").status_code == 404
    mask = np.zeros((32, 32), np.uint8)
    mask[:16] = 1
    mask[20:, 20:] = 255  # not annotated
    saved = client.put("/api/annotations/2", content=_png(mask)).json()
    assert saved["saved"].endswith("annotations/00000002.png") and saved["counts"]["skin"] == 512
    back = client.get("/api/annotations/2")
    assert Image.open(io.BytesIO(back.content)).mode == "P"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(back.content))), mask)
    index = client.get("/api/annotations/2?as=index")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(index.content))), mask)
    assert [s["status"] for s in client.get("/api/samples").json()][2] == "done"
    classes = json.loads((folder / "annotations" / "classes.json").read_text())
    assert classes["class_names"] == list(CLASSES)
    ann = load_annotations(folder / "annotations", shape=(32, 32))
    assert ann.ids == (2,) and int((ann.items[0].mask == -1).sum()) == 144


def test_bad_masks_answer_422_and_leave_nothing(run: tuple[Path, Path]) -> None:
    folder, _ = run
    client = _client(folder)
    cases = {
        "30x32": _png(np.zeros((32, 30), np.uint8)),
        "class id(s) [7]": _png(np.full((32, 32), 7, np.uint8)),
        "holds colours": _png(np.zeros((32, 32, 3), np.uint8), mode="RGB"),
        "not a PNG": b"hello",
    }
    for expected, body in cases.items():
        response = client.put("/api/annotations/3", content=body)
        assert response.status_code == 422 and expected in response.json()["detail"], response.text
    assert not (folder / "annotations" / "00000003.png").exists()
    assert not list((folder / "annotations").glob(".*.tmp"))


@pytest.mark.parametrize("sample", ["99", "-1", "..%2F..%2Fetc%2Fpasswd", "1.5", "abc"])
def test_ids_that_are_not_samples(run: tuple[Path, Path], sample: str) -> None:
    client = _client(run[0])
    for method, path in (("GET", f"/api/samples/{sample}/image"), ("GET", f"/api/annotations/{sample}"),
                         ("PUT", f"/api/annotations/{sample}")):  # fmt: skip
        response = client.request(method, path, content=_png(np.zeros((32, 32), np.uint8)))
        assert response.status_code in (404, 422), (path, response.status_code)
        if sample.isdigit() or sample == "-1":
            assert response.status_code == 404


def test_token_and_size_limit(run: tuple[Path, Path]) -> None:
    client = _client(run[0], token="s3cret", max_body=1000)
    assert client.get("/api/samples").status_code == 401
    assert client.get("/api/samples", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/samples", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    first = client.get("/?token=s3cret")  # the printed URL: sets a cookie for the page's requests
    assert first.status_code == 200 and "studio_token" in first.cookies
    assert client.get("/api/samples").status_code == 200  # the cookie now
    big = client.put("/api/annotations/1", content=b"x" * 5000)
    assert big.status_code == 413


def test_two_tabs_the_later_save_wins_and_the_earlier_learns_it(run: tuple[Path, Path]) -> None:
    client = _client(run[0])
    v0 = client.get("/api/annotations/4/version").json()["version"]
    tab_a = client.put("/api/annotations/4", content=_png(np.zeros((32, 32), np.uint8)),
                       headers={"If-Match": str(v0)}).json()  # fmt: skip
    assert not tab_a["replaced_other_save"]
    tab_b = client.put("/api/annotations/4", content=_png(np.ones((32, 32), np.uint8)),
                       headers={"If-Match": str(v0)}).json()  # fmt: skip
    assert tab_b["replaced_other_save"]  # B started from v0, A saved in between
    now = client.get("/api/annotations/4/version").json()["version"]
    assert now == tab_b["version"] != tab_a["version"]  # A polls this and warns its user
    saved = np.asarray(Image.open(io.BytesIO(client.get("/api/annotations/4").content)))
    assert (saved == 1).all()


def test_skip_and_interpreter_order_and_prelabel(run: tuple[Path, Path], tmp_path: Path) -> None:
    folder, generator = run
    interp = random_interpreter(generator, tmp_path / "interp")
    client = TestClient(create_app(Studio.open(folder, interpreter=interp)))
    samples = client.get("/api/samples").json()
    scores = [s["score"] for s in samples]
    assert all(isinstance(v, float) for v in scores) and scores == sorted(scores, reverse=True)
    label = client.get(f"/api/samples/{samples[0]['id']}/prelabel?as=index")
    values = np.asarray(Image.open(io.BytesIO(label.content)))
    assert values.shape == (32, 32) and values.max() < len(CLASSES)
    assert client.post("/api/samples/5/status", json={"status": "skipped"}).status_code == 200
    assert {s["id"]: s["status"] for s in client.get("/api/samples").json()}[5] == "skipped"
    assert client.post("/api/samples/5/status", json={"status": "gone"}).status_code == 422
    assert client.post("/api/samples/5/status", json={"status": "todo"}).status_code == 200


def test_retrain_now_trains_on_the_saved_masks_and_reranks(tmp_path: Path) -> None:
    import time

    folder, _ = make_run(tmp_path, n=6)
    client = TestClient(create_app(Studio.open(folder, train_steps=20)))
    assert client.post("/api/retrain").status_code == 409  # nothing annotated yet
    rng = np.random.default_rng(0)
    for i in range(4):
        client.put(f"/api/annotations/{i}", content=_png(rng.integers(0, 3, (32, 32))))
    started = client.post("/api/retrain").json()
    assert started["state"] == "running"
    for _ in range(600):
        job = client.get("/api/retrain").json()
        if job["state"] != "running":
            break
        time.sleep(0.1)
    assert job["state"] == "done", job
    assert "validation mIoU" in job["message"]
    assert (folder / "interpreter-studio" / "interpreter.json").is_file()
    samples = client.get("/api/samples").json()
    assert all(isinstance(s["score"], float) for s in samples)
    assert client.get("/api/classes").json()["interpreter"] is True


def test_a_token_is_required_off_loopback() -> None:
    from datasetgan.annotate.server import access_token

    assert access_token("127.0.0.1", None) is None and access_token("localhost", "t") == "t"
    made = access_token("0.0.0.0", None)
    assert made and len(made) >= 24 and made != access_token("0.0.0.0", None)


def test_cli_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from datasetgan.flows.cli import app

    result = CliRunner().invoke(app, ["annotate", str(tmp_path), "--no-browser"])
    assert result.exit_code == 2 and "no images/<id>.png" in result.output, result.output
