"""The generation datasets: CelebA and Fashion-MNIST on fixtures in their real formats, SyntheticFaces."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from data.conftest import write_fashion_idx_fixture
from PIL import Image

from generation.conftest import write_celeba_fixture
from pixeldcn.data.celeba import CelebA, inspect_layout, read_partition, square_around_box
from pixeldcn.data.errors import DatasetNotFoundError
from pixeldcn.data.fashion_mnist import FashionMNIST
from pixeldcn.data.synthetic_faces import SyntheticFaces
from pixeldcn.data.validation import BadSampleError
from pixeldcn.metrics import checkerboard_score

# ---------------------------------------------------------------------------------------- CelebA


@pytest.fixture
def celeba(tmp_path):
    return write_celeba_fixture(tmp_path, bbox=True)


def test_celeba_splits_follow_the_official_partition_file(celeba):
    for split, count in (("train", 4), ("val", 2), ("test", 2)):
        dataset = CelebA(root=celeba.root, split=split)
        assert len(dataset) == count
        assert dataset.samples == celeba.files[split]


def test_celeba_takes_the_central_148_square_as_torchvision_centre_crop(celeba):
    dataset = CelebA(root=celeba.root, split="val", image_size=148)
    image, label = dataset[1]
    decoded = np.asarray(Image.open(celeba.image_path(celeba.files["val"][1])).convert("RGB"), dtype=np.float32)
    # (178 - 148) / 2 = 15 columns and (218 - 148) / 2 = 35 rows are cut on each side.
    expected = decoded[35:183, 15:163] / 255.0
    assert label == 0
    assert image.dtype == torch.float32 and image.shape == (3, 148, 148)
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), expected, atol=1e-6)


def test_celeba_resizes_the_crop_to_image_size(celeba):
    dataset = CelebA(root=celeba.root, split="train", image_size=64, crop=108)
    image, _ = dataset[0]
    assert image.shape == (3, 64, 64) and 0.0 <= image.min() and image.max() <= 1.0
    decoded = Image.open(celeba.image_path(celeba.files["train"][0])).convert("RGB")
    # (178 - 108) / 2 = 35, (218 - 108) / 2 = 55.
    reference = decoded.crop((35, 55, 143, 163)).resize((64, 64), Image.Resampling.BILINEAR)
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), np.asarray(reference) / 255.0, atol=1e-6)


def test_celeba_bbox_crop_is_the_square_around_each_files_box(celeba):
    dataset = CelebA(root=celeba.root, split="test", image_size=80, crop="bbox")
    name = celeba.files["test"][0]
    index = int(name[:6]) - 1
    # The fixture's box: x 10 + i, y 20 + 2 i, 60 wide, 80 high -> an 80 x 80 square centred on it.
    left, top = 10 + index + 30 - 40, 20 + 2 * index
    decoded = np.asarray(Image.open(celeba.image_path(name)).convert("RGB"), dtype=np.float32)
    np.testing.assert_allclose(
        dataset[0][0].permute(1, 2, 0).numpy(), decoded[top : top + 80, left : left + 80] / 255.0, atol=1e-6
    )


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((50, 60, 40, 20), (50, 50, 90, 90)),  # centred on (70, 70), side 40
        ((0, 0, 30, 30), (0, 0, 30, 30)),
        ((-10, 190, 40, 40), (0, 178, 40, 218)),  # shifted inside a 178 x 218 picture
        ((0, 0, 300, 300), (0, 40, 178, 218)),  # shrunk to 178, then as near its centre (150, 150) as fits
    ],
)
def test_square_around_box(box, expected):
    assert square_around_box(box, 178, 218) == expected


def test_celeba_missing_partition_file_is_one_line_naming_it_and_the_override(celeba):
    (celeba.root / "celeba" / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        CelebA(root=celeba.root)
    message = str(error.value)
    assert "\n" not in message
    assert str(celeba.root / "celeba" / "list_eval_partition.txt") in message
    assert "img_align_celeba" in message and "dataset.root=" in message


def test_celeba_missing_image_directory_and_bbox_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="missing image directory .*img_align_celeba"):
        CelebA(root=tmp_path)
    write_celeba_fixture(tmp_path / "nobox")
    CelebA(root=tmp_path / "nobox")  # the box file is optional...
    with pytest.raises(DatasetNotFoundError, match="list_bbox_celeba.txt"):
        CelebA(root=tmp_path / "nobox", crop="bbox")  # ...unless crop=bbox


def test_celeba_missing_picture_names_it_when_read(celeba):
    name = celeba.files["train"][2]
    celeba.image_path(name).unlink()
    dataset = CelebA(root=celeba.root)
    with pytest.raises(BadSampleError, match=f"missing image .*{name}"):
        dataset[2]
    report = inspect_layout(celeba.root)
    assert report.counts == {"train images": 4, "val images": 2, "test images": 2}
    assert len(report.problems) == 1 and name in report.problems[0]


def test_celeba_partition_lines_must_name_a_split(tmp_path):
    path = tmp_path / "list_eval_partition.txt"
    path.write_text("000001.jpg 0\n000002.jpg 2\n\n000003.jpg 1\n")
    assert read_partition(path) == {"train": ["000001.jpg"], "val": ["000003.jpg"], "test": ["000002.jpg"]}
    path.write_text("000001.jpg 0\n000002.jpg 3\n")
    with pytest.raises(ValueError, match=":2: expected"):
        read_partition(path)


def test_celeba_rejects_a_crop_larger_than_the_picture(celeba):
    with pytest.raises(ValueError, match="crop=200 is larger"):
        CelebA(root=celeba.root, crop=200)[0]


# ---------------------------------------------------------------------------------- Fashion-MNIST


@pytest.fixture
def fashion(tmp_path):
    return write_fashion_idx_fixture(tmp_path / "fashion", train_labels=(0, 1, 2, 3, 4), test_labels=(7, 8, 9))


def test_fashion_mnist_val_is_held_out_from_train_and_test_is_t10k(fashion):
    train = FashionMNIST(root=fashion.root, split="train", val_size=2)
    val = FashionMNIST(root=fashion.root, split="val", val_size=2)
    test = FashionMNIST(root=fashion.root, split="test", val_size=2)
    assert [train[i][1] for i in range(len(train))] == [0, 1, 2]
    assert [val[i][1] for i in range(len(val))] == [3, 4]
    assert [test[i][1] for i in range(len(test))] == [7, 8, 9]
    image, label = val[1]
    assert train.channels == 1 and image.dtype == torch.float32 and image.shape == (1, 28, 28)
    np.testing.assert_array_equal(image[0].numpy(), fashion.images["train"][4] / np.float32(255.0))


def test_fashion_mnist_resizes_and_pickles_without_its_arrays(fashion):
    dataset = FashionMNIST(root=fashion.root, split="test", image_size=32)
    image, _ = dataset[0]
    expected = Image.fromarray(fashion.images["t10k"][0]).resize((32, 32), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(image[0].numpy(), np.asarray(expected) / np.float32(255.0))
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy._arrays is None and torch.equal(copy[0][0], image)


def test_fashion_mnist_missing_file_and_too_small_training_file(fashion, tmp_path):
    (fashion.root / "t10k-labels-idx1-ubyte.gz").unlink()
    FashionMNIST(root=fashion.root, split="train", val_size=2)  # train does not read t10k
    with pytest.raises(DatasetNotFoundError) as error:
        FashionMNIST(root=fashion.root, split="test")
    assert "\n" not in str(error.value) and "t10k-labels-idx1-ubyte" in str(error.value)
    assert "dataset.root=" in str(error.value)
    with pytest.raises(ValueError, match="lower dataset.val_size"):
        FashionMNIST(root=fashion.root, split="train")  # 5 garments, val_size 5000


# --------------------------------------------------------------------------------- SyntheticFaces


def test_synthetic_faces_are_deterministic_per_seed_and_split():
    train = SyntheticFaces(split="train", num_samples=4)
    again = SyntheticFaces(split="train", num_samples=4)
    image, label = train[3]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32 and label == 0
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert torch.equal(image, again[3][0])
    assert not torch.equal(image, SyntheticFaces(split="val", num_samples=4)[3][0])
    assert not torch.equal(image, SyntheticFaces(split="train", num_samples=4, seed=1)[3][0])
    assert not torch.equal(image, train[2][0])


def test_synthetic_faces_draw_their_parts_where_they_say():
    dataset = SyntheticFaces(split="test", image_size=256)
    for index in range(5):
        image, face = dataset.render(index)

        def pixel(point, image=image):
            return image[int(point[1]), int(point[0])]

        for eye in (face.left_eye, face.right_eye):
            assert face.pupil_radius > 2.0
            np.testing.assert_allclose(pixel(eye), 0.03, atol=0.02)  # the pupil
        np.testing.assert_allclose(pixel(face.mouth), face.lips, atol=1e-5)
        # The top-left corner is background: the first gradient colour blended towards the second.
        low, high = np.minimum(*face.background), np.maximum(*face.background)
        assert np.all(image[0, 0] >= low - 1e-5) and np.all(image[0, 0] <= high + 1e-5)
        # A cheek (between the eye and the mouth, off the nose) is shaded skin: a fraction of its colour.
        cheek_x = (face.left_eye[0] + face.mouth[0]) / 2 - 0.1 * face.head_axes[0]
        cheek = (cheek_x, (face.left_eye[1] + face.mouth[1]) / 2)
        ratio = pixel(cheek) / face.skin
        assert np.all(ratio > 0.3) and np.all(ratio < 1.01) and np.ptp(ratio) < 0.02


def test_synthetic_faces_carry_no_checkerboard_pattern():
    # Anti-aliased, smoothly shaded pictures: the reference score of real images must be tiny.
    dataset = SyntheticFaces(split="val", num_samples=16)
    images = torch.stack([dataset[index][0] for index in range(16)])
    assert checkerboard_score(images) < 0.005
