"""`diff_paths` answers "what would applying this change?" on plain dicts; `field_owners` reads managedFields."""

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


def test_field_owners_reads_managed_fields_as_kubectl_shows_them():
    from kubernetes.client import V1ManagedFieldsEntry as Entry

    from scalelab.k8s import field_owners

    entries = [Entry(manager="scalelab", operation="Apply", fields_v1={"f:spec": {"f:selector": {}, "f:template": {}}}),
               Entry(manager="kube-controller-manager", operation="Update", subresource="scale",
                     fields_v1={"f:spec": {"f:replicas": {}}}),
               Entry(manager="kube-controller-manager", operation="Update", subresource="status",
                     fields_v1={"f:status": {"f:replicas": {}}})]
    assert field_owners(entries, "spec.replicas") == ["kube-controller-manager (through /scale)"]
    assert field_owners(entries, "spec.template") == ["scalelab"]
    assert field_owners(entries, "spec.paused") == [] and field_owners(None, "spec.replicas") == []
