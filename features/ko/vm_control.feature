# language: ko
@lab-2.1
기능: 가상머신 제어
  실습 2.1: 가상머신에 액세스할 수 있는 권한이 있는 사용자는 가상머신을 중지(Stop), 시작(Start),
  다시 시작(Restart), 일시 중지(Pause) 및 일시 중지 해제(Unpause)할 수 있습니다.
  각 시나리오는 자체 네임스페이스에 자체 가상머신을 만듭니다.

  배경:
    조건 실행 중인 가상머신이 있습니다

  @step-4
  시나리오: Stop을 누르면 가상머신이 Stopped 상태가 됩니다
    만일 가상머신을 중지합니다
    그러면 중지 요청이 수락됩니다
    그리고 가상머신이 Stopped 상태가 됩니다
    그리고 가상머신에 VMI도 launcher 파드도 없습니다
    그리고 가상머신의 실행 전략(runStrategy)이 Halted입니다
    그리고 가상머신의 Ready 조건이 True가 아닙니다

  @step-5
  시나리오: 중지된 가상머신에서는 Start만 사용할 수 있고 Restart와 Pause는 사용할 수 없습니다
    조건 가상머신이 중지되어 있습니다
    그러면 Actions 메뉴에서 사용 가능한 옵션: Start
    만일 가상머신을 다시 시작합니다
    그러면 다시 시작 요청이 409 "RunStategy Halted does not support manual restart requests" 오류로 거부됩니다
    만일 가상머신을 일시 중지합니다
    그러면 일시 중지 요청이 404 "not found" 또는 409 "VM is not running" 오류로 거부됩니다
    만일 가상머신을 일시 중지 해제합니다
    그러면 일시 중지 해제 요청이 404 "not found" 또는 409 "VMI is not running" 오류로 거부됩니다
    만일 가상머신을 중지합니다
    그러면 중지 요청이 409 "VM is not running" 오류로 거부됩니다
    그리고 가상머신이 VMI 없이 Stopped 상태를 유지합니다
    만일 가상머신을 시작합니다
    그러면 시작 요청이 수락됩니다
    그리고 가상머신이 Running 상태가 됩니다

  @step-6
  시나리오: Start는 가상머신이 중지되어 있을 때만 사용할 수 있습니다
    조건 가상머신의 VMI, 노드, launcher 파드를 기록합니다
    만일 가상머신을 시작합니다
    그러면 시작 요청이 409 "VM is already running" 오류로 거부됩니다
    그리고 가상머신이 같은 VMI, 노드, launcher 파드에서 Running 상태를 유지합니다

  @step-6 @step-7
  시나리오: Pause를 누르면 가상머신이 사용하는 메모리는 할당된 상태로 유지됩니다
    조건 가상머신의 VMI, 노드, launcher 파드를 기록합니다
    만일 가상머신을 일시 중지합니다
    그러면 일시 중지 요청이 수락됩니다
    그리고 가상머신이 Paused 상태가 됩니다
    그리고 VMI는 여전히 Running이고 PausedByUser 사유로 Paused=True입니다
    그리고 가상머신의 Ready 조건이 True가 아닙니다
    그리고 가상머신이 같은 VMI, 노드, launcher 파드에 있습니다
    그리고 launcher 파드는 재시작 없이 여전히 Running이고 메모리는 할당된 상태로 유지됩니다
    만일 가상머신을 일시 중지합니다
    그러면 일시 중지 요청이 409 "VMI is already paused" 오류로 거부됩니다

  @step-8
  시나리오: Unpause를 누르면 가상머신의 일시 중지가 해제됩니다
    조건 가상머신이 일시 중지되어 있습니다
    그러면 Actions 메뉴에서 사용 가능한 옵션: Stop, Restart, Unpause
    조건 가상머신의 VMI, 노드, launcher 파드를 기록합니다
    만일 가상머신을 일시 중지 해제합니다
    그러면 일시 중지 해제 요청이 수락됩니다
    그리고 가상머신이 Running 상태가 됩니다
    그리고 VMI에 Paused 조건이 없습니다
    그리고 가상머신의 Ready 조건이 True가 됩니다
    그리고 가상머신이 같은 VMI, 노드, launcher 파드에 있습니다

  @step-3
  시나리오: Restart를 누르면 가상머신이 새 인스턴스로 재부팅됩니다
    그러면 Actions 메뉴에서 사용 가능한 옵션: Stop, Restart, Pause
    조건 가상머신의 VMI, 노드, launcher 파드를 기록합니다
    만일 가상머신을 다시 시작합니다
    그러면 다시 시작 요청이 수락됩니다
    그리고 가상머신에 같은 이름의 새 VMI가 생깁니다
    그리고 가상머신이 Running 상태가 됩니다
    그리고 새 VMI는 새 launcher 파드에서 실행됩니다
