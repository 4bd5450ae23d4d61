"""Plan on pull requests: the CI side of infra-gitops.

Modules, in the order `infra-gitops ci plan` uses them: context (which CI, which pull
request, which commits), selection (merge base, changed paths, affected stacks),
fingerprint (what a stack's code was at plan time), store (saved plans kept for
`apply --from-plan`), markdown (the report), hosting (the pull request comment and the
commit status on GitHub or GitLab, through http).
"""
