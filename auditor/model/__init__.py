"""The nouns of imgaudit, one module for each kind: the image (image), what rules say
(findings), the policy (policy), what an audit reports (report) and what a sweep records
(sweep). Every other module is a verb."""
