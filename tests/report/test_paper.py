from pixeldcn.report.paper import PAPER_TABLE1, PAPER_TABLE2, paper_table1


def test_table2_ratios_are_the_papers():
    ratios = {r["upsampler"]: (round(r["train_ratio"], 2), round(r["predict_ratio"], 2)) for r in PAPER_TABLE2["rows"]}
    assert ratios == {"deconv6": (1.0, 1.0), "ipixeldcl": (1.4, 1.56), "pixeldcl": (1.27, 1.28)}
    assert "365m26s / 2m42s" in PAPER_TABLE2["summary"]


def test_table1_lookups_and_sources_differ_on_coco_only():
    assert paper_table1("arxiv_v4", "voc", "unet", "pixeldcl")["mean_iou"] == 0.455972
    assert paper_table1("nips", "coco", "unet", "deconv6")["mean_iou"] == 0.317191
    assert paper_table1("arxiv_v4", "coco", "unet", "deconv6")["mean_iou"] == 0.349769
    assert paper_table1("nips", "voc", "deeplab_resnet", "pixeldcl") is None
    assert len(PAPER_TABLE1) == 15
    # The paper's mean IoU is the smaller of its two columns in every row (guards a column swap).
    assert all(r["mean_iou"] < r["pixel_acc"] for r in PAPER_TABLE1)
