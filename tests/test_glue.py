"""GLUE readers: the real SST-2 / CoLA / MRPC layouts, the download path (served locally), bad files."""

import hashlib
import io
import urllib.error
import urllib.request
import zipfile

import pytest

from distill.data import glue
from distill.data.glue import load_glue
from distill.errors import DistillError

SST2 = {
    "train.tsv": "sentence\tlabel\n"
                 "hide new secretions from the parental units \t0\n"
                 "the film 's \" messages \" are clear \t1\n"
                 "\" the emperor 's club is a fine film \t1\n",
    "dev.tsv": "sentence\tlabel\nit 's a charming and often affecting journey . \t1\n"
               "unflinchingly bleak and desperate \t0\n",
    "test.tsv": "index\tsentence\n0\tuneasy mishmash of styles and genres .\n1\tthis film 's \" heart is gone\n",
}
COLA = {
    "train.tsv": "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
                 "gj04\t0\t*\tThey drank the pub.\n"
                 'cj99\t1\t\tHe said "hello.\n',
    "dev.tsv": "gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\ngj04\t0\t*\tThe more you eat, the less.\n",
    "test.tsv": "index\tsentence\n0\tBill whistled past the house.\n1\tThe car honked \"down the road.\n",
}
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
MRPC = {
    "train.tsv": MRPC_HEADER
    + '1\t702876\t702977\tAmrozi accused his brother , whom he called " the witness " .\t'
      'Referring to him as only " the witness " , Amrozi accused his brother .\n'
    + "0\t2108705\t2108831\tYucaipa owned Dominick 's before selling the chain .\tYucaipa bought Dominick 's in 1995 .\n",
    "dev.tsv": MRPC_HEADER + "1\t1\t2\tHe said \" yes .\tHe agreed .\n",
    "test.tsv": "index\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1089874\t1089925\tPCCW 's chief .\tCurrent Chief .\n",
}


def write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


# ------------------------------------------------------------------ layouts
def test_sst2_layout_quotes_and_unlabeled_test(tmp_path):
    task = load_glue("glue/sst2", write(tmp_path, SST2))
    assert task.label_names == ["negative", "positive"] and not task.is_pair
    assert task.primary_metric == "accuracy"
    train = task["train"]
    assert len(train) == 3 and train.labels.tolist() == [0, 1, 1] and train.has_labels
    assert train.texts[1] == "the film 's \" messages \" are clear "
    assert train.texts[2] == "\" the emperor 's club is a fine film "  # the unbalanced quote swallowed nothing
    test = task["test"]
    assert test.texts == ["uneasy mishmash of styles and genres .", "this film 's \" heart is gone"]
    assert test.labels.tolist() == [-1, -1] and not test.has_labels


def test_cola_layout_without_header_and_test_with_header(tmp_path):
    task = load_glue("glue/cola", write(tmp_path, COLA))
    assert task.label_names == ["unacceptable", "acceptable"] and task.primary_metric == "mcc"
    assert task["train"].texts == [
        "Our friends won't buy this analysis, let alone the next one we propose.",
        "They drank the pub.", 'He said "hello.']
    assert task["train"].labels.tolist() == [1, 0, 1]
    assert task["dev"].labels.tolist() == [1, 0]
    assert task["test"].texts[1] == 'The car honked "down the road.'
    assert task["test"].labels.tolist() == [-1, -1]


def test_mrpc_is_a_pair_task_and_test_may_lack_quality(tmp_path):
    task = load_glue("glue/mrpc", write(tmp_path, MRPC))
    assert task.is_pair and task.primary_metric == "f1"
    assert task.label_names == ["not_equivalent", "equivalent"]
    train = task["train"]
    assert train.is_pair and train.labels.tolist() == [1, 0]
    assert train.texts[0] == 'Amrozi accused his brother , whom he called " the witness " .'
    assert train.texts_b[1] == "Yucaipa bought Dominick 's in 1995 ."
    assert task["test"].texts_b == ["Current Chief ."] and task["test"].labels.tolist() == [-1]


def test_mrpc_test_with_quality_keeps_labels(tmp_path):
    files = dict(MRPC, **{"test.tsv": MRPC_HEADER + "0\t5\t6\tA .\tB .\n"})
    assert load_glue("glue/mrpc", write(tmp_path, files))["test"].labels.tolist() == [0]


def test_archive_subfolder_and_optional_test(tmp_path):
    files = {k: v for k, v in SST2.items() if k != "test.tsv"}
    write(tmp_path / "SST-2", files)
    task = load_glue("glue/sst2", tmp_path)
    assert sorted(task.splits) == ["dev", "train"]
    assert task["dev"].source_id == f"glue/sst2@{tmp_path}"


def test_same_files_same_sha256(tmp_path):
    a = load_glue("glue/cola", write(tmp_path / "a", COLA))
    b = load_glue("glue/cola", write(tmp_path / "b", COLA))
    assert a.sha256 == b.sha256
    changed = dict(COLA, **{"dev.tsv": COLA["dev.tsv"].replace("gj04\t0", "gj04\t1")})
    assert load_glue("glue/cola", write(tmp_path / "c", changed)).sha256 != a.sha256


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("task, files, message", [
    ("glue/sst2", dict(SST2, **{"train.tsv": "text\tlabel\na\t1\n"}),
     r"train\.tsv, line 1: no column 'sentence' in the header \(columns: text, label\)"),
    ("glue/sst2", dict(SST2, **{"dev.tsv": "sentence\n a\n"}), r"dev\.tsv, line 1: no column 'label'"),
    ("glue/sst2", dict(SST2, **{"train.tsv": "sentence\tlabel\na\t1\nb\tpositive\n"}),
     r"train\.tsv, line 3: label 'positive' is not an integer"),
    ("glue/sst2", dict(SST2, **{"train.tsv": "sentence\tlabel\na\t1\nb\t3\n"}),
     r"train\.tsv, line 3: label 3 is not one of 0, 1"),
    ("glue/sst2", dict(SST2, **{"dev.tsv": "sentence\tlabel\n"}), r"dev\.tsv: no data rows after the header \(empty split\)"),
    ("glue/sst2", dict(SST2, **{"dev.tsv": ""}), r"dev\.tsv: empty file"),
    ("glue/cola", dict(COLA, **{"train.tsv": "gj04\t1\t\tok.\ngj04\t1\tmissing a field\n"}),
     r"train\.tsv, line 2: 3 field\(s\), expected 4"),
    ("glue/cola", dict(COLA, **{"dev.tsv": "gj04\tyes\t\tok.\n"}), r"dev\.tsv, line 1: label 'yes' is not an integer"),
    ("glue/cola", dict(COLA, **{"test.tsv": "index\tsentence\n"}), r"test\.tsv: no data rows after the header"),
    ("glue/mrpc", dict(MRPC, **{"train.tsv": "Quality\t#1 String\n1\ta\n"}), r"train\.tsv, line 1: no column '#2 String'"),
    ("glue/mrpc", dict(MRPC, **{"dev.tsv": MRPC_HEADER + "1\t1\t2\tonly one sentence\n"}),
     r"dev\.tsv, line 2: 4 field\(s\), expected 5 \(Quality, #1 ID, #2 ID, #1 String, #2 String\)"),
    ("glue/mrpc", dict(MRPC, **{"dev.tsv": MRPC_HEADER.replace("Quality", "index") + "0\t1\t2\ta\tb\n"}),
     r"dev\.tsv, line 1: no column 'Quality'"),
    ("glue/sst2", dict(SST2, **{"train.tsv": "sentence\tlabel\na\t1\n \t0\n"}),
     r"train\.tsv, line 3: column 'sentence' is empty \(every row needs a text\)"),
    ("glue/sst2", dict(SST2, **{"test.tsv": "index\tsentence\n0\ta\n1\t\n"}),
     r"test\.tsv, line 3: column 'sentence' is empty"),
    ("glue/sst2", dict(SST2, **{"dev.tsv": "sentence\tlabel\na\t\n"}), r"dev\.tsv, line 2: column 'label' is empty"),
    ("glue/sst2", dict(SST2, **{"train.tsv": "sentence\tlabel\na\t1\nb\t1\n"}),
     r"train\.tsv: the train split has only one label \('positive' on all 2 rows\)"),
    ("glue/cola", dict(COLA, **{"train.tsv": "gj04\t1\t\tok.\ngj04\t0\t*\t\n"}),
     r"train\.tsv, line 2: column 'sentence' is empty"),
    ("glue/cola", dict(COLA, **{"test.tsv": "index\tsentence\n0\t  \n"}),
     r"test\.tsv, line 2: column 'sentence' is empty"),
    ("glue/cola", dict(COLA, **{"train.tsv": "gj04\t0\t*\tNo.\ngj04\t0\t*\tNot.\n"}),
     r"train\.tsv: the train split has only one label \('unacceptable' on all 2 rows\)"),
    ("glue/mrpc", dict(MRPC, **{"dev.tsv": MRPC_HEADER + "1\t1\t2\tHe said .\t\n"}),
     r"dev\.tsv, line 2: column '#2 String' is empty"),
])
def test_malformed_files_name_file_and_line(tmp_path, task, files, message):
    with pytest.raises(DistillError, match=message):
        load_glue(task, write(tmp_path, files))


def test_non_utf8_file(tmp_path):
    write(tmp_path, SST2)
    (tmp_path / "train.tsv").write_bytes(b"sentence\tlabel\nna\xefve\t1\n")
    with pytest.raises(DistillError, match=r"train\.tsv, line 2: not UTF-8"):
        load_glue("glue/sst2", tmp_path)


def test_missing_required_file(tmp_path):
    write(tmp_path, {"train.tsv": SST2["train.tsv"]})
    with pytest.raises(DistillError, match=r"dev\.tsv: no such file"):
        load_glue("glue/sst2", tmp_path)


# ------------------------------------------------------------------ download path
def serve(monkeypatch, tmp_path, files: dict[str, bytes]):
    """Answer urlopen from `files` (by URL) and refuse every other URL, like being offline."""
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))

    def urlopen(url, timeout=None):
        if url not in files:
            raise urllib.error.URLError("[Errno -2] Name or service not known")
        return io.BytesIO(files[url])

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_offline_download_fails_with_one_line_pointing_to_data_dir(tmp_path, monkeypatch):
    serve(monkeypatch, tmp_path, {})
    for name in ("glue/sst2", "glue/mrpc"):
        with pytest.raises(DistillError) as info:
            load_glue(name)
        message = str(info.value)
        assert "\n" not in message and "--data-dir" in message and message.startswith(name)
    assert not any((tmp_path / "cache").rglob("*.zip"))  # nothing half-written was cached


def test_download_reads_archive_members(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in SST2.items():
            archive.writestr(f"SST-2/{name}", text)
    data = buffer.getvalue()
    monkeypatch.setitem(glue.ARCHIVES, "SST-2", ("SST-2.zip", sha(data)))
    serve(monkeypatch, tmp_path, {f"{glue.GLUE_URL}/SST-2.zip": data})
    task = load_glue("glue/sst2")
    assert [len(task[s]) for s in ("train", "dev", "test")] == [3, 2, 2]
    assert task["train"].source_id == f"glue/sst2@{glue.GLUE_URL}"
    # the same bytes give the same fingerprint, whether downloaded or read from --data-dir
    assert task.sha256 == load_glue("glue/sst2", write(tmp_path / "local", SST2)).sha256


def test_mrpc_download_rebuilds_glue_train_dev_split(tmp_path, monkeypatch):
    header = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"
    train = (header + "1\t10\t11\tA one .\tA uno .\r\n0\t20\t21\tB \" two .\tB dos .\r\n"
             "0\t30\t31\tC three .\tC tres .\r\n").encode()
    test = (header + "0\t40\t41\tD four .\tD cuatro .\r\n").encode()
    dev_ids = b"20\t21\n"
    files = {"train": train, "test": test, "dev_ids": dev_ids}
    pins = {key: (url, sha(files[key])) for key, (url, _) in glue.MRPC_FILES.items()}
    monkeypatch.setattr(glue, "MRPC_FILES", pins)
    serve(monkeypatch, tmp_path, {url: files[key] for key, (url, _) in pins.items()})
    task = load_glue("glue/mrpc")
    assert task["train"].texts == ["A one .", "C three ."] and task["train"].labels.tolist() == [1, 0]
    assert task["dev"].texts == ['B " two .'] and task["dev"].texts_b == ["B dos ."]
    assert task["test"].labels.tolist() == [0]  # Microsoft's test file carries its labels


def test_download_checksum_mismatch_is_an_error(tmp_path, monkeypatch):
    serve(monkeypatch, tmp_path, {f"{glue.GLUE_URL}/CoLA.zip": b"not the real archive"})
    with pytest.raises(DistillError, match=r"glue/cola: .*checksum mismatch"):
        load_glue("glue/cola")
