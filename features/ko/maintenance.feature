# language: ko
@lab-2.2-maintenance @needs-migration @needs-eviction
기능: 노드 유지보수
  실습 2.2: 라이브 마이그레이션은 가상머신을 멈추지 않고 노드를 유지보수하는 방법입니다. 노드를
  drain하면(kubectl drain, descheduler, 업그레이드) 가상머신의 launcher 파드가 퇴거(evict)되고,
  KubeVirt는 가상머신의 퇴거 전략에 따라 응답합니다: LiveMigrate는 퇴거를 거부하고 대신 가상머신을
  다른 노드로 라이브 마이그레이션하며, 디스크를 옮길 수 없는 가상머신은 절대 퇴거되지 않습니다.
  LiveMigrateIfPossible은 그런 가상머신의 퇴거를 허용하고, 실행 전략이 가상머신을 다시 시작합니다.

  @step-1
  시나리오: LiveMigrate 가상머신의 launcher 파드를 퇴거하면 대신 가상머신이 라이브 마이그레이션됩니다
    조건 퇴거 전략(evictionStrategy)이 LiveMigrate인 실행 중인 가상머신이 있습니다
    그리고 가상머신의 VMI, 노드, launcher 파드를 기록합니다
    만일 가상머신의 launcher 파드를 퇴거(evict)합니다
    그러면 퇴거 요청이 429로 거부되고 가상머신이 대피(evacuation) 대상으로 표시됩니다
    그리고 가상머신이 다른 노드로 라이브 마이그레이션되고 Running 상태가 됩니다
    그리고 VMI는 이전과 다른 노드에서 실행됩니다
    그리고 VMI는 재시작되지 않은 같은 인스턴스입니다
    그리고 VMI의 대피 표시(evacuationNodeName)가 지워졌습니다

  @step-2 @needs-rwo
  시나리오: 디스크를 옮길 수 없는 LiveMigrate 가상머신은 절대 퇴거되지 않습니다
    조건 ReadWriteOnce 데이터 볼륨과 퇴거 전략 LiveMigrate를 가진 실행 중인 가상머신이 있습니다
    그리고 가상머신의 VMI, 노드, launcher 파드를 기록합니다
    만일 가상머신의 launcher 파드를 퇴거(evict)합니다
    그러면 가상머신을 라이브 마이그레이션할 수 없으므로 퇴거 요청이 429로 거부됩니다
    그리고 가상머신이 같은 노드에서 Running 상태를 유지합니다
    그리고 VMI는 재시작되지 않은 같은 인스턴스입니다

  @step-2 @needs-rwo
  시나리오: LiveMigrateIfPossible이면 디스크를 옮길 수 없는 가상머신은 퇴거된 뒤 다시 시작됩니다
    조건 ReadWriteOnce 데이터 볼륨과 퇴거 전략 LiveMigrateIfPossible를 가진 실행 중인 가상머신이 있습니다
    그리고 가상머신의 VMI, 노드, launcher 파드를 기록합니다
    만일 가상머신의 launcher 파드를 퇴거(evict)합니다
    그러면 퇴거 요청이 수락됩니다
    그리고 가상머신이 새 VMI로 다시 시작되어 Running 상태가 됩니다

  @step-3 @needs-disruptive
  시나리오: 노드를 drain하면 가상머신이 마이그레이션 한도 안에서 다른 노드로 옮겨집니다
    조건 한 노드에 동시에 마이그레이션할 수 있는 수보다 많은, 퇴거 전략이 LiveMigrate인 실행 중인 가상머신이 있습니다
    만일 그 노드를 cordon하고 시나리오의 파드를 drain합니다
    그러면 모든 가상머신이 라이브 마이그레이션으로 노드를 떠나 같은 VMI로 다른 노드에서 실행됩니다
    그리고 동시에 마이그레이션된 수는 노드당 아웃바운드 마이그레이션 한도를 넘지 않았습니다
    만일 노드를 uncordon합니다
    그러면 노드는 다시 스케줄 가능하고 실행의 표시가 남아 있지 않습니다
