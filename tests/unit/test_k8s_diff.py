"""`diff_paths` answers "what would applying this change?" on plain dicts."""

from scalelab.k8s import diff_paths


def test_only_fields_the_file_sets_are_compared():
    live = {"spec": {"replicas": 4, "paused": False, "template": {"env": [{"name": "V", "value": "v1"}]}},
            "status": {"readyReplicas": 4}}
    desired = {"spec": {"replicas": 4, "template": {"env": [{"name": "V", "value": "v2"}]}}}
    assert diff_paths(live, desired) == ["spec.template.env[0].value"]


def test_normalised_quantities_are_equal():
    assert diff_paths({"cpu": "1"}, {"cpu": 1}) == []


def test_a_changed_list_length_is_reported_at_the_list():
    assert diff_paths({"ports": [1]}, {"ports": [1, 2]}) == ["ports"]


def test_missing_live_field_is_a_difference():
    assert diff_paths({"spec": {}}, {"spec": {"nodeSelector": {"pool": "clod"}}}) == ["spec.nodeSelector"]
